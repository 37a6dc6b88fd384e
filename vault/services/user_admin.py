"""Account administration: creating accounts, resetting them to a new enrolment, disabling and
enabling them, changing their role, and requiring a key rotation.

These are the administrator's (the ``vault users`` commands on the server, whose actor is
``None``: the local administrator, logged as ``system``), each in one audited unit. A person's
own account is ``vault.services.account``; logging in is ``vault.services.auth``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit.actions import Action
from vault.clock import Clock
from vault.crypto import PrivateKey
from vault.errors import Conflict, NotFound
from vault.services import devices, grants, keyring, row_seal_guard, sources, throttle, users
from vault.services.auth import ISSUER
from vault.services.credentials import end_credentials
from vault.services.uow import UnitOfWork
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import Role, User

__all__ = ["UserAdminService", "UserInfo"]

# What a reset clears: the key pair, what seals it, and the second factor.
_KEY_COLUMNS = (
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
)


@dataclass(frozen=True)
class UserInfo:
    """An account as the administrator sees it: ``enrolled`` once it has a key pair (before,
    it awaits enrolment), ``two_factor`` once it has a second factor."""

    id: UUID
    username: str
    role: Role
    enabled: bool
    enrolled: bool
    two_factor: bool
    created_at: datetime
    end_to_end_only: bool = False  # set on the account (a role may require it too)


def user_info(row: User) -> UserInfo:
    """The boundary object of a user row."""
    return UserInfo(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        enabled=row.enabled,
        enrolled=row.key_id is not None,
        two_factor=row.sealed_totp is not None,
        created_at=row.created_at,
        end_to_end_only=row.end_to_end_only,
    )


def _require_admin(actor: Actor | None) -> None:
    if actor is not None and actor.role != Role.ADMIN:
        raise NotFound("no such route")


class UserAdminService:
    """The administrator's operations on accounts."""

    def __init__(
        self, *, engine: Engine, settings: Settings, clock: Clock, kdf: throttle.KdfLimiter
    ) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._settings = settings
        self._clock = clock
        self._kdf = kdf

    def accounts(self) -> list[UserInfo]:
        """Every account, by username."""
        with self._uow.read() as db:
            return [user_info(u) for u in db.exec(select(User).order_by(col(User.username)))]

    def account(self, username: str) -> UserInfo:
        """The account ``username``; ``NotFound`` if there is none."""
        with self._uow.read() as db:
            return user_info(users.find_user(db, username))

    def _issue_code(self, user: User) -> str:
        expires = self._clock() + timedelta(hours=self._settings.enrolment_hours)
        return users.issue_enrolment_code(user, expires_at=expires)

    def create_account(
        self, actor: Actor | None, *, username: str, role: Role, passphrase: str | None
    ) -> tuple[User, str | None, str | None]:
        """Create an account. Without a passphrase it waits for enrolment and the one-time
        enrolment code is returned; with one it is active at once, and if its role requires
        TOTP the provisioning URI is returned to hand over. ``actor`` ``None`` means the
        local administrator (the CLI on the server)."""
        _require_admin(actor)
        with self._uow.audited(actor, Action.USER_CREATE) as work:
            db = work.db
            user = _new_user(db, username, role, clock=self._clock)
            code = uri = None
            if passphrase is None:
                code = self._issue_code(user)
            else:
                required = users.totp_required(self._settings, role)
                secret = crypto.new_totp_secret() if required else None
                with self._kdf.slot():
                    users.set_passphrase(
                        db, user, passphrase, self._settings.argon2, totp_secret=secret
                    )
                if secret is not None:
                    user.totp_confirmed = True
                    uri = crypto.totp_uri(secret, account=username, issuer=ISSUER)
            db.add(user)
            # The key the account starts with, if any (key transparency: every key a user is
            # given, and every change of it, is named in the log).
            work.add(user=user.id, extra={"key_id": user.key_id or "none"})
        return user, code, uri

    def reset_enrolment(self, username: str, *, recovered: PrivateKey | None = None) -> str:
        """Invalidate an account's key, sessions and tokens and issue a new enrolment code
        (a forgotten passphrase). The user loses every wrapped key: they await approval in
        their cases again, and their sources wait for the recovery key holders.

        With ``recovered`` (account recovery by the share holders, who vouch for the person and
        give the new key the account's keys): their approvals stay, and ``recovered`` becomes
        their key pair at once, its seed sealed under the new code until they enrol."""
        with self._uow.audited(None, Action.USER_RESET) as work:
            db = work.db
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
            for column in _KEY_COLUMNS:
                setattr(user, column, None)
            user.totp_confirmed = False
            end_credentials(db, user.id, self._clock, keep=None, sessions_only=False)
            code = self._issue_code(user)
            user.sealed_recovered_key = None
            if recovered is not None:
                public = recovered.public_key()
                user.key_id, user.public_key = public.key_id, public.to_bytes()
                user.sealed_recovered_key = crypto.seal_with_code(
                    code, recovered, owner_id=user.id, pepper=row_seal_guard.pepper_of(db)
                )
            db.add(user)
            # The recovered key the account now has, or none until it enrols.
            work.add(user=user.id, extra={"key_id": user.key_id or "none"})
        return code

    def set_enabled(self, username: str, enabled: bool) -> User:
        """Disable (ending every session and token) or re-enable an account."""
        action = Action.USER_ENABLE if enabled else Action.USER_DISABLE
        with self._uow.audited(None, action) as work:
            user = users.find_user(work.db, username)
            user.enabled = enabled
            if not enabled:
                end_credentials(work.db, user.id, self._clock, keep=None, sessions_only=False)
                devices.forget_user(work.db, user.id)
            work.db.add(user)
            work.add(user=user.id)
        return user

    def require_rotation(self, username: str) -> None:
        """The account's next login makes a new key pair (``vault.services.account``)."""
        with self._uow.audited(None, Action.USER_KEY_ROTATION_REQUIRED) as work:
            user = users.find_user(work.db, username)
            user.key_rotation_required = True
            work.db.add(user)
            work.add(user=user.id)

    def set_end_to_end_only(self, username: str, only: bool) -> int:
        """Make an account log in end to end only (or not): from now on the server refuses its
        passphrase logins, and every session and token that holds its key on the server ends
        at once. Returns how many ended; the same setting again changes and logs nothing."""
        with self._uow.audited(None, Action.USER_END_TO_END_ONLY) as work:
            user = users.find_user(work.db, username)
            if user.end_to_end_only == only:
                work.unchanged()
                return 0
            user.end_to_end_only = only
            ended = 0
            if only:
                ended = end_credentials(
                    work.db, user.id, self._clock, keep=None, sessions_only=False, holding_key=True
                )
            work.db.add(user)
            work.add(extra={"only": "true" if only else "false", "ended": str(ended)}, user=user.id)
        return ended

    def set_role(self, actor: Actor | None, username: str, role: Role) -> Role:
        """Change an account's role and return the role it had. The same role again changes
        nothing and logs nothing. Sessions and tokens stay valid (every request reads the role
        afresh, so the change applies to the next one), except those opened without a one-time
        code when the new role requires one (``vault.services.auth``). ``actor`` ``None`` means
        the local administrator (the CLI on the server)."""
        _require_admin(actor)
        with self._uow.audited(actor, Action.USER_ROLE_CHANGED) as work:
            user = users.find_user(work.db, username)
            previous = Role(user.role)
            if previous == role:
                work.unchanged()
                return previous
            user.role = role
            work.db.add(user)
            work.add(extra={"from": previous.value, "to": role.value}, user=user.id)
        return previous


def _new_user(db: Session, username: str, role: Role, *, clock: Clock) -> User:
    """A new account without a key (not committed): ``users.set_passphrase`` gives it one."""
    users.check_username(username)
    if db.exec(select(User.id).where(User.username == username)).first() is not None:
        raise Conflict("a user with that name already exists")
    user = User(username=username, role=role, created_at=clock())
    db.add(user)
    return user
