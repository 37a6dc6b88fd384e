"""Enrolment, login, sessions and API tokens.

Every attempt with a passphrase is throttled (``vault.services.throttle``) and, when it fails,
counted and logged as a denied entry while the request fails with one generic answer. Sessions
and tokens are bearer credentials (``vault.services.credentials``); idle and absolute expiry are
checked on every use. Account administration is ``vault.services.user_admin``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import crypto, freetext
from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import AuthenticationFailed, Conflict, EndToEndOnly, InvalidInput, NotFound
from vault.services import (
    account,
    credentials,
    grants,
    login_checks,
    row_seal_guard,
    throttle,
    users,
)
from vault.services.credentials import CredentialInfo, IssuedCredential, credential_info
from vault.services.uow import UnitOfWork
from vault.services.users import ALL_SCOPES, Actor
from vault.settings import Settings
from vault.storage.models import Credential, CredentialKind, Role, User

__all__ = ["ISSUER", "AuthService", "Enrolment", "IssuedCredential"]

LAST_USE_STEP = timedelta(seconds=15)
"""A credential's last use is recorded when it is at least this much newer than the one stored."""

ISSUER = "Source Vault"


@dataclass(frozen=True)
class Enrolment:
    """What enrolment returns: whether the account is active, and the TOTP provisioning URI
    to confirm with a first code when it is not yet."""

    active: bool
    totp_uri: str | None = None


class AuthService:
    """Every authentication decision, for every replica alike (no state in the process but the
    key-derivation limiter)."""

    def __init__(
        self, *, engine: Engine, settings: Settings, clock: Clock, kdf: throttle.KdfLimiter
    ) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._settings = settings
        self._clock = clock
        self._kdf = kdf

    def _address_free(self, address: str) -> dict[str, int]:
        """An address may be shared by a whole newsroom: it gets more free failures."""
        return {throttle.address_key(address): self._settings.address_free_failures}

    def totp_required(self, role: Role | str) -> bool:
        return users.totp_required(self._settings, role)

    # -- enrolment ---------------------------------------------------------------------------

    def enroll(self, username: str, code: str, passphrase: str, *, address: str) -> Enrolment:
        """Set the first passphrase with a one-time enrolment code. Unknown user, wrong code and
        expired code fail identically (and count as login failures for throttling)."""
        now = self._clock()
        keys = [throttle.account_key(username), throttle.address_key(address)]
        with self._uow.audited(None, Action.AUTH_ENROLL) as work:
            db = work.db
            free = self._address_free(address)
            user = login_checks.enrolling(work, username, code, keys, now, free)
            if user.sealed_recovered_key is None and users.end_to_end_only(self._settings, user):
                # Its passphrase must never reach the server: `vault enroll --end-to-end`. (A
                # recovered key pair can only be taken up here: the server made it anyway.)
                work.fail(Action.AUTH_ENROLL_FAILED, user=user.id)
                raise EndToEndOnly()
            secret = crypto.new_totp_secret() if self.totp_required(user.role) else None
            recovered = None
            if user.sealed_recovered_key is not None and user.key_id is not None:
                recovered = crypto.open_with_code(
                    code,
                    user.sealed_recovered_key,
                    owner_id=user.id,
                    key_id=user.key_id,
                    pepper=row_seal_guard.pepper_of(db),
                )
            with self._kdf.slot():
                users.set_passphrase(
                    db, user, passphrase, self._settings.argon2, totp_secret=secret, key=recovered
                )
            user.sealed_recovered_key = None
            user.enrolment_code_hash = None
            user.enrolment_expires_at = None
            db.add(user)
            # Every key a user is given is named in the log (key transparency).
            work.add(actor=user.id, user=user.id, extra={"key_id": user.key_id or "none"})
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
        with self._uow.audited(None, Action.AUTH_ENROLL_CONFIRM) as work:
            with login_checks.counted(work, keys, now, username, Action.AUTH_ENROLL_FAILED, free):
                unlocked = self._verify(work.db, username, passphrase)
                user = unlocked.user
                if unlocked.totp_secret is None or user.totp_confirmed:
                    raise AuthenticationFailed()
                login_checks.use_code(work.db, user, unlocked.totp_secret, otp, now)
                user.totp_confirmed = True
                work.db.add(user)
                work.add(actor=user.id, user=user.id)

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
        with self._uow.audited(None, Action.AUTH_LOGIN) as work:
            db = work.db
            user_id = db.exec(select(User.id).where(User.username == username)).first()
            tried = login_checks.attempt(
                db, self._settings, username, user_id,
                address=address, device_token=device_token, now=now,
            )  # fmt: skip
            failed = Action.AUTH_LOGIN_FAILED
            with login_checks.counted(work, tried.keys, now, username, failed, tried.free):
                unlocked = self._verify(db, username, passphrase)
                with_otp = login_checks.check_code(
                    db, self._settings, unlocked.user, unlocked.totp_secret, otp, now
                )
            work.add(actor=unlocked.user.id)
            if users.end_to_end_only(self._settings, unlocked.user):
                # Checked once the passphrase is right, so that the refusal tells nobody
                # without it which accounts exist or how they log in. Not a failure: the
                # throttle's counters are left alone.
                work.fail(Action.AUTH_LOGIN, extra={"reason": "end-to-end-only"})
                raise EndToEndOnly()
            if rotate_key or unlocked.user.key_rotation_required:
                with self._kdf.slot():
                    key = account.rotate_key(
                        work, unlocked, passphrase, settings=self._settings, clock=self._clock
                    )
                unlocked = replace(unlocked, key=key)
            actor = unlocked.actor
            grants.complete_grants(db, actor, clock=self._clock)
            return login_checks.open_session(
                work, actor, tried, settings=self._settings, clock=self._clock, with_otp=with_otp
            )

    def _verify(self, db: Session, username: str, passphrase: str) -> users.Unlocked:
        with self._kdf.slot():
            return users.verify_passphrase(db, username, passphrase, params=self._settings.argon2)

    def authenticate(self, token: str) -> Actor:
        """The actor a bearer token stands for, with their key unlocked where the credential
        may read. ``AuthenticationFailed`` for an unknown, expired or revoked token."""
        now = self._clock()
        with self._uow.unaudited("a credential's last use, and grants completed on the way") as db:
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
            if row.sealed_key is not None and users.end_to_end_only(self._settings, user):
                # Opened server-side before the account (or its role) was made end to end only.
                raise EndToEndOnly()
            key = None
            if row.sealed_key is not None and not row.end_to_end:
                key = crypto.open_with_token(
                    token,
                    row.sealed_key,
                    credential_id=row.id,
                    key_id=user.key_id,
                    pepper=row_seal_guard.pepper_of(db),
                )
            actor = Actor(
                user_id=user.id,
                username=user.username,
                role=Role(user.role),
                key=key,
                scopes=frozenset(s for s in row.scopes.split(",") if s),
                credential_id=row.id,
                via_token=row.kind == CredentialKind.TOKEN,
                end_to_end=row.end_to_end,
            )
            if key is not None:
                # The member's next authenticated action completes grants they can complete
                # (of flagged members only: a full scan on every request grew with the vault).
                grants.complete_flagged_grants(db, actor, clock=self._clock)
            # Written last: on SQLite the first write takes the database's write lock until the
            # commit, and other requests would wait behind this one's reads. And only when it
            # moved by LAST_USE_STEP: a commit (an fsync) on every request was the largest
            # cost of a small upload. An idle session may so end up to that much early.
            if now - row.last_used_at >= LAST_USE_STEP:
                row.last_used_at = now
                db.add(row)
        return actor

    def logout(self, actor: Actor) -> None:
        """End the credential the actor used."""
        if actor.credential_id is None:
            return
        with self._uow.audited(actor, Action.AUTH_LOGOUT) as work:
            row = work.db.get(Credential, actor.credential_id)
            if row is None or row.revoked_at is not None:
                work.unchanged()
                return
            row.revoked_at = self._clock()
            row.sealed_key = None
            work.db.add(row)
            work.add(credential=row.id)

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
        with self._uow.audited(actor, Action.AUTH_TOKEN_CREATE) as work:
            row = work.db.get(Credential, actor.credential_id)
            if row is None or row.kind != CredentialKind.SESSION:
                raise Conflict("API tokens are created from a login session")
            issued = credentials.issue(
                work.db,
                actor,
                kind=CredentialKind.TOKEN,
                name=name.strip(),
                scopes=scope_set,
                lifetime=timedelta(seconds=expires_in),
                idle=None,
                with_otp=row.with_otp,
                clock=self._clock,
                end_to_end=row.end_to_end,
            )
            work.add(credential=issued.credential.id)
        return issued

    def list_tokens(self, actor: Actor) -> list[CredentialInfo]:
        """The actor's API tokens that are neither expired nor revoked, oldest first."""
        now = self._clock()
        with self._uow.read() as db:
            rows = list(
                db.exec(
                    select(Credential)
                    .where(Credential.user_id == actor.user_id)
                    .where(Credential.kind == CredentialKind.TOKEN)
                    .where(col(Credential.revoked_at).is_(None))
                    .where(col(Credential.expires_at) > now)
                    .order_by(col(Credential.created_at))
                ).all()
            )
        return [credential_info(row) for row in rows]

    def revoke_token(self, actor: Actor, token_id: UUID) -> None:
        with self._uow.audited(actor, Action.AUTH_TOKEN_REVOKE, credential=token_id) as work:
            row = work.db.get(Credential, token_id)
            if (
                row is None
                or row.user_id != actor.user_id
                or row.kind != CredentialKind.TOKEN
                or row.revoked_at is not None
            ):
                raise NotFound("no such token")
            row.revoked_at = self._clock()
            row.sealed_key = None
            work.db.add(row)
