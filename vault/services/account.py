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

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from vault import crypto
from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import AuthenticationFailed, EndToEndOnly, InvalidInput, OtpRequired
from vault.services import keyring, row_seal_guard, throttle, users
from vault.services.credentials import end_credentials
from vault.services.uow import UnitOfWork, Work
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import User

__all__ = ["AccountService", "ClientSealing", "rotate_key"]


class AccountService:
    def __init__(
        self, *, engine: Engine, settings: Settings, clock: Clock, kdf: throttle.KdfLimiter
    ) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._settings = settings
        self._clock = clock
        self._kdf = kdf

    @contextmanager
    def _checked(
        self, actor: Actor, passphrase: str, action: Action, *, failed: Action
    ) -> Iterator[tuple[Work, users.Unlocked]]:
        """The actor's account opened with ``passphrase``, throttled like a login, in a unit
        that records ``action`` on success and, for a wrong passphrase, ``failed`` (counted)."""
        now = self._clock()
        keys = [throttle.account_key(actor.username)]
        with self._uow.audited(actor, action, user=actor.user_id) as work:
            throttle.check(work.db, keys, now)
            try:
                with self._kdf.slot():
                    unlocked = users.verify_passphrase(
                        work.db, actor.username, passphrase, params=self._settings.argon2
                    )
            except (AuthenticationFailed, OtpRequired):
                work.fail(failed, user=actor.user_id)
                throttle.record_failure(work.db, keys, now)
                raise AuthenticationFailed("the current passphrase is not right") from None
            if unlocked.user.id != actor.user_id:
                raise AuthenticationFailed()
            yield work, unlocked
            work.db.add(unlocked.user)

    def change_passphrase(self, actor: Actor, current: str, new: str) -> int:
        """Re-seal the actor's key under ``new``; end their other sessions. Returns how many
        sessions were ended. ``EndToEndOnly`` for an account whose passphrase must never reach
        the server: its client re-seals the key itself (``reseal_from_client``)."""
        with self._uow.read() as db:
            user = db.get(User, actor.user_id)
            if user is not None and users.end_to_end_only(self._settings, user):
                raise EndToEndOnly()
        if new == current:
            raise InvalidInput("the new passphrase is the same as the current one")
        users.check_passphrase(new)
        with self._checked(
            actor,
            current,
            Action.AUTH_PASSPHRASE_CHANGE,
            failed=Action.AUTH_PASSPHRASE_CHANGE_FAILED,
        ) as (work, unlocked):
            with self._kdf.slot():
                users.reseal(
                    unlocked.user,
                    unlocked.key,
                    new,
                    self._settings.argon2,
                    totp_secret=unlocked.totp_secret,
                    pepper=row_seal_guard.pepper_of(work.db),
                )
            ended = end_credentials(
                work.db, actor.user_id, self._clock, keep=actor.credential_id, sessions_only=True
            )
            work.add(extra={"sessions_ended": str(ended)})
            return ended

    def reseal_from_client(
        self, actor: Actor, current_verifier: bytes, sealing: ClientSealing
    ) -> int:
        """A passphrase change done by an end-to-end client: it proves the current passphrase
        with its login verifier and sends the same private key sealed under the new one, with
        the new salt, parameters and verifier; the server never sees either passphrase. The
        attempt is throttled, counted and logged like ``change_passphrase``; the other
        sessions end. Returns how many."""
        now = self._clock()
        keys = [throttle.account_key(actor.username)]
        with self._uow.audited(
            actor, Action.AUTH_PASSPHRASE_CHANGE, extra={"mode": "end-to-end"}, user=actor.user_id
        ) as work:
            throttle.check(work.db, keys, now)
            user = work.db.get(User, actor.user_id)
            stored = None if user is None else user.login_verifier
            if user is None or stored is None or user.sealed_private_key is None:
                raise AuthenticationFailed()
            if not hmac.compare_digest(bytes(stored), current_verifier):
                work.fail(Action.AUTH_PASSPHRASE_CHANGE_FAILED, user=actor.user_id)
                throttle.record_failure(work.db, keys, now)
                raise AuthenticationFailed("the current passphrase is not right")
            sealing.check(like=bytes(user.sealed_private_key), verifier=bytes(stored))
            # A TOTP secret still sealed under the old passphrase (format version 1) would be
            # lost: such an account changes its passphrase server-side once first.
            users.open_totp(user, row_seal_guard.pepper_of(work.db))
            user.kdf_salt = sealing.salt
            user.kdf_memory_kib = sealing.params.memory_kib
            user.kdf_time_cost = sealing.params.time_cost
            user.kdf_lanes = sealing.params.lanes
            user.login_verifier = sealing.verifier
            user.sealed_private_key = sealing.sealed_private_key
            work.db.add(user)
            ended = end_credentials(
                work.db, actor.user_id, self._clock, keep=actor.credential_id, sessions_only=True
            )
            work.add(extra={"mode": "end-to-end", "sessions_ended": str(ended)})
            return ended


@dataclass(frozen=True)
class ClientSealing:
    """The private key as an end-to-end client sealed it under a new passphrase."""

    salt: bytes
    params: crypto.Argon2Params
    verifier: bytes
    sealed_private_key: bytes

    def check(self, *, like: bytes, verifier: bytes) -> None:
        """``InvalidInput`` unless the parts have the sizes the current ones have."""
        if len(self.salt) != crypto.PASSPHRASE_SALT_SIZE:
            raise InvalidInput(f"a salt is {crypto.PASSPHRASE_SALT_SIZE} bytes")
        if len(self.verifier) != len(verifier):
            raise InvalidInput(f"a login verifier is {len(verifier)} bytes")
        if len(self.sealed_private_key) != len(like):
            raise InvalidInput(f"a sealed private key is {len(like)} bytes")


def rotate_key(
    work: Work,
    unlocked: users.Unlocked,
    passphrase: str,
    *,
    settings: Settings,
    clock: Clock,
) -> crypto.PrivateKey:
    """Give the account a new key pair holding every key the old one held, destroy the old one
    and end every session and token, recording ``user.key.rotate`` in ``work`` (whose actor is
    the account; the caller, a login, opens a new session with the returned key). One
    transaction: interrupted, nothing changed."""
    old, new = unlocked.key, crypto.generate_private_key()
    old_id, recipient = old.public_key().key_id, new.public_key()
    rewrapped = keyring.transfer_all(work.db, old, recipient, clock=clock)
    user = unlocked.user
    users.reseal(
        user,
        new,
        passphrase,
        settings.argon2,
        totp_secret=unlocked.totp_secret,
        pepper=row_seal_guard.pepper_of(work.db),
    )
    user.key_rotation_required = False
    work.db.add(user)
    end_credentials(work.db, user.id, clock, keep=None, sessions_only=False)
    work.record(
        Action.USER_KEY_ROTATE,
        actor=user.id,
        extra={
            "rewrapped": str(rewrapped),
            "old_key": old_id,
            "new_key": recipient.key_id,
            "key_id": recipient.key_id,
        },
        user=user.id,
    )
    return new
