"""A person's own account: changing their passphrase, and rotating their key pair.

Both need the current passphrase, checked like a login (throttled per account, counted and
logged when wrong), even from a live session: a session left open on a shared machine must not
be enough to lock its owner out or to take their key.

- A passphrase change re-seals the same private key (and TOTP secret) under the new passphrase
  and ends the account's other sessions; API tokens stay (they carry no passphrase).
- A key rotation happens at a login (the passphrase is there to seal the new key), asked for
  by the person (`rotate_key` in the login request, `vault keys rotate`) or required by an
  administrator (`vault users require-rotation`, for the next login): a new key pair, every
  document and source key the old one held re-wrapped for it, the old one destroyed, in one
  transaction: interrupted, it leaves the old key as it was, and the next login starts afresh.
  Every other session and token ends (each sealed the old key).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit import context as request_context
from vault.audit import log as audit
from vault.clock import Clock
from vault.errors import AuthenticationFailed, InvalidInput, OtpRequired
from vault.services import keyring, throttle, users
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import Credential, CredentialKind

__all__ = ["AccountService", "rotate_key"]


class AccountService:
    def __init__(
        self, *, engine: Engine, settings: Settings, clock: Clock, kdf: throttle.KdfLimiter
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._kdf = kdf

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    @contextmanager
    def _checked(
        self, actor: Actor, passphrase: str, what: str
    ) -> Iterator[tuple[Session, users.Unlocked]]:
        """The actor's account opened with ``passphrase``, throttled and logged like a login;
        the block runs in the same transaction and commits it."""
        now = self._clock()
        keys = [throttle.account_key(actor.username)]
        with self._session() as db:
            throttle.check(db, keys, now)
            try:
                with self._kdf.slot():
                    unlocked = users.verify_passphrase(
                        db, actor.username, passphrase, params=self._settings.argon2
                    )
            except (AuthenticationFailed, OtpRequired):
                db.rollback()
                audit.append(
                    db,
                    action=f"{what}.failed",
                    actor=str(actor.user_id),
                    time=now,
                    outcome="denied",
                    targets={"user": str(actor.user_id)},
                    request_id=request_context.request_id.get(),
                )
                throttle.record_failure(db, keys, now)
                raise AuthenticationFailed("the current passphrase is not right") from None
            if unlocked.user.id != actor.user_id:
                raise AuthenticationFailed()
            yield db, unlocked
            db.add(unlocked.user)
            audit.commit(db)

    def change_passphrase(self, actor: Actor, current: str, new: str) -> int:
        """Re-seal the actor's key under ``new``; end their other sessions. Returns how many
        sessions were ended."""
        if new == current:
            raise InvalidInput("the new passphrase is the same as the current one")
        users.check_passphrase(new)
        with self._checked(actor, current, "auth.passphrase.change") as (db, unlocked):
            with self._kdf.slot():
                users.reseal(
                    unlocked.user,
                    unlocked.key,
                    new,
                    self._settings.argon2,
                    totp_secret=unlocked.totp_secret,
                )
            ended = _end_credentials(
                db, actor.user_id, self._clock, keep=actor.credential_id, sessions_only=True
            )
            audit.record(
                db,
                "auth.passphrase.change",
                actor.user_id,
                clock=self._clock,
                extra={"sessions_ended": str(ended)},
                user=actor.user_id,
            )
            return ended


def rotate_key(
    db: Session,
    unlocked: users.Unlocked,
    passphrase: str,
    *,
    settings: Settings,
    clock: Clock,
) -> crypto.PrivateKey:
    """Give the account a new key pair holding every key the old one held, destroy the old one
    and end every session and token (not committed; the caller, a login, opens a new session
    with the returned key). One transaction: interrupted, nothing changed."""
    old, new = unlocked.key, crypto.generate_private_key()
    old_id, recipient = old.public_key().key_id, new.public_key()
    rewrapped = keyring.transfer_all(db, old, recipient, clock=clock)
    user = unlocked.user
    users.reseal(user, new, passphrase, settings.argon2, totp_secret=unlocked.totp_secret)
    user.key_rotation_required = False
    db.add(user)
    _end_credentials(db, user.id, clock, keep=None, sessions_only=False)
    audit.record(
        db,
        "user.key.rotate",
        user.id,
        clock=clock,
        extra={"rewrapped": str(rewrapped), "old_key": old_id, "new_key": recipient.key_id},
        user=user.id,
    )
    return new


def _end_credentials(
    db: Session, user_id: UUID, clock: Clock, *, keep: UUID | None, sessions_only: bool
) -> int:
    stmt = (
        select(Credential)
        .where(Credential.user_id == user_id)
        .where(col(Credential.revoked_at).is_(None))
    )
    if sessions_only:
        stmt = stmt.where(Credential.kind == CredentialKind.SESSION)
    ended = 0
    for row in db.exec(stmt):
        if row.id == keep:
            continue
        row.revoked_at = clock()
        row.sealed_key = None
        db.add(row)
        ended += 1
    return ended
