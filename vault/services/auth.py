"""Enrolment, login, sessions and API tokens.

A bearer credential is 256 random bits; the database keeps only its hash. A session, and an API
token with the ``read`` scope, also keep the user's key seed sealed under a key derived from the
token, so any replica shown the token can unlock the key and a database copy cannot. Idle and
absolute expiry are checked on every use.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import CursorResult, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import crypto, freetext
from vault.audit import context as request_context
from vault.audit import log as audit
from vault.clock import Clock
from vault.crypto import PrivateKey
from vault.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, OtpRequired
from vault.services import account, devices, grants, keyring, sources, throttle, users
from vault.services.users import ALL_SCOPES, Actor
from vault.settings import Settings
from vault.storage.models import Credential, CredentialKind, Role, User

__all__ = ["AuthService", "Enrolment", "IssuedCredential"]

ISSUER = "Source Vault"
_CODE_LABEL = "enrolment-code"


@dataclass(frozen=True)
class IssuedCredential:
    """A new session or token. ``token`` is shown once and stored nowhere."""

    token: str
    credential: Credential
    actor: Actor
    device_token: str | None = None  # a login's: show it at the next login from this device

    def __repr__(self) -> str:
        return f"IssuedCredential(id={self.credential.id}, kind={self.credential.kind})"


@dataclass(frozen=True)
class Enrolment:
    """What enrolment returns: whether the account is active, and the TOTP provisioning URI
    to confirm with a first code when it is not yet."""

    active: bool
    totp_uri: str | None = None


def _code_hash(code: str) -> str:
    return crypto.hash_bearer_token(_CODE_LABEL + ":" + code)


class AuthService:
    """Every authentication decision, for every replica alike (no state in the process but the
    key-derivation limiter)."""

    def __init__(
        self, *, engine: Engine, settings: Settings, clock: Clock, kdf: throttle.KdfLimiter
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._kdf = kdf

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    def _address_free(self, address: str) -> dict[str, int]:
        """An address may be shared by a whole newsroom: it gets more free failures."""
        return {throttle.address_key(address): self._settings.address_free_failures}

    def totp_required(self, role: Role | str) -> bool:
        return str(role) in self._settings.totp_roles

    # -- accounts ----------------------------------------------------------------------------

    def create_account(
        self, actor: Actor | None, *, username: str, role: Role, passphrase: str | None
    ) -> tuple[User, str | None, str | None]:
        """Create an account. Without a passphrase it waits for enrolment and the one-time
        enrolment code is returned; with one it is active at once, and if its role requires
        TOTP the provisioning URI is returned to hand over. ``actor`` ``None`` means the
        local administrator (the CLI on the server)."""
        if actor is not None and actor.role != Role.ADMIN:
            raise NotFound("no such route")
        with self._session() as db:
            user, _ = users.create_user(
                db,
                username=username,
                role=role,
                passphrase=None,
                params=self._settings.argon2,
                clock=self._clock,
            )
            code = uri = None
            if passphrase is None:
                code = self._issue_code(user)
            else:
                secret = crypto.new_totp_secret() if self.totp_required(role) else None
                with self._kdf.slot():
                    users.set_passphrase(
                        db, user, passphrase, self._settings.argon2, totp_secret=secret
                    )
                if secret is not None:
                    user.totp_confirmed = True
                    uri = crypto.totp_uri(secret, account=username, issuer=ISSUER)
            db.add(user)
            self._record(db, "user.create", actor, user=user.id)
            audit.commit(db)
            return user, code, uri

    def reset_enrolment(self, username: str, *, recovered: PrivateKey | None = None) -> str:
        """Invalidate an account's key, sessions and tokens and issue a new enrolment code
        (a forgotten passphrase). The user loses every wrapped key: they await approval in
        their cases again, and their sources wait for the recovery key holders.

        With ``recovered`` (account recovery by the share holders, who vouch for the person and
        give the new key the account's keys): their approvals stay, and ``recovered`` becomes
        their key pair at once, its seed sealed under the new code until they enrol."""
        with self._session() as db:
            user = users.find_user(db, username)
            if user.key_id is not None:
                keyring.delete_wrapped_for_recipient(db, user.key_id)
            if recovered is None:
                # Whoever enrols with the new code may not be the same person: the members of
                # each case decide again, and the sources they handle wait for the recovery key
                # holders.
                grants.withdraw_approvals(db, user.id)
                sources.await_recovery(db, user.id)
            devices.forget_user(db, user.id)
            for column in (
                "key_id",
                "public_key",
                "sealed_private_key",
                "kdf_salt",
                "kdf_memory_kib",
                "kdf_time_cost",
                "kdf_lanes",
                "login_verifier",
                "sealed_totp",
                "totp_last_step",
            ):
                setattr(user, column, None)
            user.totp_confirmed = False
            self._revoke_all(db, user.id)
            code = self._issue_code(user)
            user.sealed_recovered_key = None
            if recovered is not None:
                public = recovered.public_key()
                user.key_id, user.public_key = public.key_id, public.to_bytes()
                user.sealed_recovered_key = crypto.seal_with_code(code, recovered, owner_id=user.id)
            db.add(user)
            self._record(db, "user.reset", None, user=user.id)
            audit.commit(db)
            return code

    def _issue_code(self, user: User) -> str:
        code = "-".join(secrets.token_hex(3) for _ in range(4))  # 96 bits, easy to read out
        user.enrolment_code_hash = _code_hash(code)
        user.enrolment_expires_at = self._clock() + timedelta(hours=self._settings.enrolment_hours)
        return code

    def enroll(self, username: str, code: str, passphrase: str, *, address: str) -> Enrolment:
        """Set the first passphrase with a one-time enrolment code. Unknown user, wrong code and
        expired code fail identically (and count as login failures for throttling)."""
        now = self._clock()
        keys = [throttle.account_key(username), throttle.address_key(address)]
        with self._session() as db:
            throttle.check(db, keys, now)
            user = db.exec(select(User).where(User.username == username)).first()
            valid = (
                user is not None
                and user.enabled
                and user.enrolment_code_hash is not None
                and user.enrolment_expires_at is not None
                and user.enrolment_expires_at > now
                and hmac.compare_digest(user.enrolment_code_hash, _code_hash(code))
            )
            if not valid or user is None:
                self._record(
                    db,
                    "auth.enroll.failed",
                    None,
                    outcome="denied",
                    user=user.id if user else "unknown",
                )
                throttle.record_failure(db, keys, now, free=self._address_free(address))
                raise AuthenticationFailed("invalid username or enrolment code")
            secret = crypto.new_totp_secret() if self.totp_required(user.role) else None
            recovered = None
            if user.sealed_recovered_key is not None and user.key_id is not None:
                recovered = crypto.open_with_code(
                    code, user.sealed_recovered_key, owner_id=user.id, key_id=user.key_id
                )
            with self._kdf.slot():
                users.set_passphrase(
                    db, user, passphrase, self._settings.argon2, totp_secret=secret, key=recovered
                )
            user.sealed_recovered_key = None
            user.enrolment_code_hash = None
            user.enrolment_expires_at = None
            db.add(user)
            self._record(db, "auth.enroll", user.id, user=user.id)
            audit.commit(db)
        if secret is None:
            return Enrolment(active=True)
        return Enrolment(
            active=False, totp_uri=crypto.totp_uri(secret, account=username, issuer=ISSUER)
        )

    def confirm_totp(self, username: str, passphrase: str, otp: str, *, address: str) -> None:
        """Activate an enrolled account with its first TOTP code."""
        now = self._clock()
        keys = [throttle.account_key(username), throttle.address_key(address)]
        free = self._address_free(address)
        with self._session() as db, self._counted_attempt(db, keys, now, username, "enroll", free):
            unlocked = self._verify(db, username, passphrase)
            user = unlocked.user
            if unlocked.totp_secret is None or user.totp_confirmed:
                raise AuthenticationFailed()
            self._use_code(db, user, unlocked.totp_secret, otp, now)
            user.totp_confirmed = True
            db.add(user)
            self._record(db, "auth.enroll.confirm", user.id, user=user.id)
            audit.commit(db)

    # -- login and credentials ---------------------------------------------------------------

    def login(
        self,
        username: str,
        passphrase: str,
        otp: str | None,
        *,
        address: str,
        device_token: str | None = None,
        rotate_key: bool = False,
    ) -> IssuedCredential:
        """Check the passphrase (and one-time code) and open a session. A device token this
        account was given at an earlier login moves the attempt from the address's throttle to
        the device's (``vault.services.throttle``); the answer carries the next one. With
        ``rotate_key`` the account gets a new key pair first (``vault.services.account``)."""
        now = self._clock()
        with self._session() as db:
            user_id = db.exec(select(User.id).where(User.username == username)).first()
            device = devices.recognise(db, device_token, user_id, now)
            keys = [
                throttle.account_key(username),
                throttle.device_key(device) if device else throttle.address_key(address),
            ]
            free = {} if device else self._address_free(address)
            with self._counted_attempt(db, keys, now, username, "login", free):
                unlocked = self._verify(db, username, passphrase)
                user = unlocked.user
                needs_totp = unlocked.totp_secret is not None or self.totp_required(user.role)
                if needs_totp:
                    if unlocked.totp_secret is None or not user.totp_confirmed:
                        raise AuthenticationFailed()
                    if not otp:
                        raise OtpRequired()
                    self._use_code(db, user, unlocked.totp_secret, otp, now)
            throttle.clear(db, keys[0])
            if device:
                throttle.clear(db, keys[1])
            if rotate_key or unlocked.user.key_rotation_required:
                with self._kdf.slot():
                    key = account.rotate_key(
                        db, unlocked, passphrase, settings=self._settings, clock=self._clock
                    )
                unlocked = replace(unlocked, key=key)
            actor = unlocked.actor
            grants.complete_grants(db, actor, clock=self._clock)
            issued = self._issue(
                db,
                actor,
                kind=CredentialKind.SESSION,
                name=None,
                scopes=ALL_SCOPES,
                lifetime=timedelta(hours=self._settings.session_max_hours),
                idle=timedelta(minutes=self._settings.session_idle_minutes),
                with_otp=needs_totp,
            )
            next_device = devices.issue(
                db,
                actor.user_id,
                now,
                lifetime=timedelta(days=self._settings.device_days),
                replaces=device,
            )
            self._record(db, "auth.login", actor.user_id, credential=issued.credential.id)
            audit.commit(db)
            return replace(issued, device_token=next_device)

    @contextmanager
    def _counted_attempt(
        self,
        db: Session,
        keys: list[str],
        now: datetime,
        username: str,
        what: str,
        free: dict[str, int],
    ) -> Iterator[None]:
        """Refuse a blocked attempt before any work; count a failed one and log it (committed
        at once, whatever else the request did) and turn it into the one generic failure."""
        throttle.check(db, keys, now)
        try:
            yield
        except OtpRequired:
            raise  # the passphrase was right: not a failure
        except AuthenticationFailed:
            db.rollback()
            user_id = db.exec(select(User.id).where(User.username == username)).first()
            self._record(
                db, f"auth.{what}.failed", None, outcome="denied", user=user_id or "unknown"
            )
            throttle.record_failure(db, keys, now, free=free)
            raise AuthenticationFailed() from None

    def _record(
        self,
        db: Session,
        action: str,
        actor: Actor | UUID | None,
        *,
        outcome: str = "ok",
        **targets: UUID | str,
    ) -> None:
        who = actor.user_id if isinstance(actor, Actor) else actor
        audit.append(
            db,
            action=action,
            actor=who or "system",
            time=self._clock(),
            outcome=outcome,
            targets={name: str(value) for name, value in targets.items()},
            request_id=request_context.request_id.get(),
        )

    def _verify(self, db: Session, username: str, passphrase: str) -> users.Unlocked:
        with self._kdf.slot():
            return users.verify_passphrase(db, username, passphrase, params=self._settings.argon2)

    def _use_code(self, db: Session, user: User, secret: bytes, otp: str, now: datetime) -> None:
        step = crypto.totp_step(secret, otp.strip(), now.timestamp())
        if step is None:
            raise AuthenticationFailed()
        # Compare-and-set in the database, not in this process: of two logins racing with the
        # same code (on any replicas), exactly one moves the step forward.
        used: CursorResult[Any] = db.execute(  # type: ignore[assignment]
            update(User)
            .where(col(User.id) == user.id)
            .where(or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        if used.rowcount != 1:
            raise AuthenticationFailed()  # replayed within its window
        user.totp_last_step = step

    def _issue(
        self,
        db: Session,
        actor: Actor,
        *,
        kind: CredentialKind,
        name: str | None,
        scopes: Iterable[str],
        lifetime: timedelta,
        idle: timedelta | None,
        with_otp: bool,
    ) -> IssuedCredential:
        now = self._clock()
        token = crypto.new_bearer_token()
        scope_set = frozenset(scopes)
        row = Credential(
            token_hash=crypto.hash_bearer_token(token),
            kind=kind,
            user_id=actor.user_id,
            name=name,
            scopes=",".join(sorted(scope_set)),
            created_at=now,
            last_used_at=now,
            expires_at=now + lifetime,
            idle_seconds=int(idle.total_seconds()) if idle is not None else None,
            with_otp=with_otp,
        )
        if users.READ in scope_set:
            row.sealed_key = crypto.seal_with_token(
                token, actor.require_key(), credential_id=row.id
            )
        db.add(row)
        holder = Actor(
            user_id=actor.user_id,
            username=actor.username,
            role=actor.role,
            key=actor.key if users.READ in scope_set else None,
            scopes=scope_set,
            credential_id=row.id,
            via_token=kind == CredentialKind.TOKEN,
        )
        return IssuedCredential(token=token, credential=row, actor=holder)

    def authenticate(self, token: str) -> Actor:
        """The actor a bearer token stands for, with their key unlocked where the credential
        may read. ``AuthenticationFailed`` for an unknown, expired or revoked token."""
        now = self._clock()
        with self._session() as db:
            row = db.exec(
                select(Credential).where(Credential.token_hash == crypto.hash_bearer_token(token))
            ).first()
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise AuthenticationFailed("invalid or expired credentials")
            if row.idle_seconds is not None and (
                now - row.last_used_at > timedelta(seconds=row.idle_seconds)
            ):
                raise AuthenticationFailed("invalid or expired credentials")
            user = db.get(User, row.user_id)
            if user is None or not user.enabled or user.key_id is None:
                raise AuthenticationFailed("invalid or expired credentials")
            if not row.with_otp and self.totp_required(user.role):
                # Opened before a one-time code was required of this account (its role, or the
                # vault's settings, changed since): it must not outlive the requirement.
                raise AuthenticationFailed("this session predates a one-time code requirement")
            key = None
            if row.sealed_key is not None:
                key = crypto.open_with_token(
                    token, row.sealed_key, credential_id=row.id, key_id=user.key_id
                )
            actor = Actor(
                user_id=user.id,
                username=user.username,
                role=Role(user.role),
                key=key,
                scopes=frozenset(s for s in row.scopes.split(",") if s),
                credential_id=row.id,
                via_token=row.kind == CredentialKind.TOKEN,
            )
            if key is not None:
                # The member's next authenticated action completes grants they can complete
                # (of flagged members only: a full scan on every request grew with the vault).
                grants.complete_flagged_grants(db, actor, clock=self._clock)
            # Written last: on SQLite the first write takes the database's write lock until the
            # commit, and other requests would wait behind this one's reads.
            row.last_used_at = now
            db.add(row)
            db.commit()
            return actor

    def logout(self, actor: Actor) -> None:
        """End the credential the actor used."""
        if actor.credential_id is None:
            return
        with self._session() as db:
            row = db.get(Credential, actor.credential_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = self._clock()
                row.sealed_key = None
                db.add(row)
                self._record(db, "auth.logout", actor, credential=row.id)
                audit.commit(db)

    def create_token(
        self, actor: Actor, *, name: str, scopes: Iterable[str], expires_in: int
    ) -> IssuedCredential:
        """An API token for scripts, from a session (a token cannot mint tokens)."""
        scope_set = frozenset(scopes)
        if not scope_set or not scope_set <= ALL_SCOPES:
            raise InvalidInput(f"scopes must be a non-empty subset of {sorted(ALL_SCOPES)}")
        if not name.strip() or len(name) > 100:
            raise InvalidInput("token name must be 1-100 characters")
        freetext.check_line("the token name", name)
        max_seconds = self._settings.token_max_days * 86400
        if not 60 <= expires_in <= max_seconds:
            raise InvalidInput(f"expires_in must be between 60 and {max_seconds} seconds")
        if actor.via_token or actor.credential_id is None:
            raise NotFound("no such route")
        if not scope_set <= actor.scopes:
            raise InvalidInput("a token cannot have scopes its creator lacks")
        with self._session() as db:
            row = db.get(Credential, actor.credential_id)
            if row is None or row.kind != CredentialKind.SESSION:
                raise Conflict("API tokens are created from a login session")
            issued = self._issue(
                db,
                actor,
                kind=CredentialKind.TOKEN,
                name=name.strip(),
                scopes=scope_set,
                lifetime=timedelta(seconds=expires_in),
                idle=None,
                with_otp=row.with_otp,
            )
            self._record(db, "auth.token.create", actor, credential=issued.credential.id)
            audit.commit(db)
            return issued

    def list_tokens(self, actor: Actor) -> list[Credential]:
        now = self._clock()
        with self._session() as db:
            return list(
                db.exec(
                    select(Credential)
                    .where(Credential.user_id == actor.user_id)
                    .where(Credential.kind == CredentialKind.TOKEN)
                    .where(col(Credential.revoked_at).is_(None))
                    .where(col(Credential.expires_at) > now)
                    .order_by(col(Credential.created_at))
                ).all()
            )

    def revoke_token(self, actor: Actor, token_id: UUID) -> None:
        with self._session() as db:
            row = db.get(Credential, token_id)
            if (
                row is None
                or row.user_id != actor.user_id
                or row.kind != CredentialKind.TOKEN
                or row.revoked_at is not None
            ):
                raise NotFound("no such token")
            row.revoked_at = self._clock()
            row.sealed_key = None
            db.add(row)
            self._record(db, "auth.token.revoke", actor, credential=row.id)
            audit.commit(db)

    def _revoke_all(self, db: Session, user_id: UUID) -> None:
        now = self._clock()
        for row in db.exec(
            select(Credential)
            .where(Credential.user_id == user_id)
            .where(col(Credential.revoked_at).is_(None))
        ):
            row.revoked_at = now
            row.sealed_key = None
            db.add(row)

    def set_enabled(self, username: str, enabled: bool) -> User:
        """Disable (ending every session and token) or re-enable an account."""
        with self._session() as db:
            user = users.find_user(db, username)
            user.enabled = enabled
            if not enabled:
                self._revoke_all(db, user.id)
                devices.forget_user(db, user.id)
            db.add(user)
            self._record(db, "user.enable" if enabled else "user.disable", None, user=user.id)
            audit.commit(db)
            return user

    def require_rotation(self, username: str) -> None:
        """The account's next login makes a new key pair (``vault.services.account``)."""
        with self._session() as db:
            user = users.find_user(db, username)
            user.key_rotation_required = True
            db.add(user)
            self._record(db, "user.key.rotation.required", None, user=user.id)
            audit.commit(db)

    def set_role(self, actor: Actor | None, username: str, role: Role) -> Role:
        """Change an account's role and return the role it had. The same role again changes
        nothing and logs nothing. Sessions and tokens stay valid (every request reads the role
        afresh, so the change applies to the next one), except those opened without a one-time
        code when the new role requires one (``authenticate``). ``actor`` ``None`` means the local
        administrator (the CLI on the server)."""
        if actor is not None and actor.role != Role.ADMIN:
            raise NotFound("no such route")
        with self._session() as db:
            user = users.find_user(db, username)
            previous = Role(user.role)
            if previous == role:
                return previous
            user.role = role
            db.add(user)
            audit.record(
                db,
                "user.role.changed",
                actor.user_id if actor is not None else "system",
                clock=self._clock,
                extra={"from": previous.value, "to": role.value},
                user=user.id,
            )
            audit.commit(db)
            return previous
