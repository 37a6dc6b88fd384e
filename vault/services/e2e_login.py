"""End-to-end logins: the client derives the passphrase's keys itself, and the server checks
who it is without ever receiving the passphrase, the key-encryption key or the private key, and
keeps no key for the session.

1. ``params``: the account's Argon2id salt and cost, for the client's derivation. An unknown
   account gets a salt derived from its name under the server's pepper and the vault's current
   cost: the same shape, the same on every ask.
2. ``challenge``: throttled and logged like a login. The login verifier (the derivation's first
   half) must match, and the one-time code where the account needs one (its TOTP secret is
   sealed under the server's key, ``users.open_totp``). Only then does the server answer with
   the private key as stored (sealed under the derivation's second half, which the client
   holds) and a fresh 32-byte secret wrapped for the account's public key, keeping only the
   secret's hash, for ``CHALLENGE_SECONDS``.
3. ``login``: the answer must be that secret, once. It proves the client holds the private key:
   the verifier alone, which a copy of the database holds, does not log in. The session is
   marked ``end_to_end`` and holds no key: every route that needs the key on the server refuses
   it (``KeyNotHeld``), and the client does that work itself.

Step 2 is an ``auth.login.challenge`` entry, step 3 an ``auth.login`` with ``mode``
``end-to-end``. Failures at either are one generic
``AuthenticationFailed``, counted per account and per address (or device) like a passphrase
login's.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import CursorResult, delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit.actions import Action
from vault.clock import Clock
from vault.crypto import Argon2Params, PublicKey
from vault.errors import AuthenticationFailed, Conflict
from vault.services import (
    login_checks,
    row_seal_guard,
    users,
)
from vault.services.credentials import IssuedCredential
from vault.services.uow import UnitOfWork
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import LoginChallenge, Role, User

__all__ = ["CHALLENGE_KIND", "CHALLENGE_SECONDS", "Challenge", "EndToEndLogin", "KdfParams"]

CHALLENGE_SECONDS = 120
CHALLENGE_KIND = "login-challenge"
"""The wrapping's ``kind`` (docs/format.md §3): a challenge's secret can never be taken for a
document's or a source's key, nor the other way round."""
_FAKE_SALT_LABEL = b"source-vault/v2 unknown-user-salt\x00"
_ANSWER_LABEL = b"source-vault/v2 login-answer\x00"


@dataclass(frozen=True)
class KdfParams:
    """What a client needs to derive an account's keys."""

    salt: bytes
    params: Argon2Params


@dataclass(frozen=True)
class Challenge:
    """The server's half of an end-to-end login in progress."""

    id: UUID
    user_id: UUID
    key_id: str
    sealed_private_key: bytes
    wrapped_secret: bytes


def _answer_hash(challenge_id: UUID, answer: bytes) -> bytes:
    return hashlib.sha256(_ANSWER_LABEL + challenge_id.bytes + answer).digest()


class EndToEndLogin:
    """The three steps of the module docstring, for every replica alike."""

    def __init__(self, *, engine: Engine, settings: Settings, clock: Clock) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._settings = settings
        self._clock = clock

    def _attempt(
        self, db: Session, username: str, address: str, device_token: str | None, now: datetime
    ) -> tuple[User | None, login_checks.Attempt]:
        user = db.exec(select(User).where(User.username == username)).first()
        tried = login_checks.attempt(
            db,
            self._settings,
            username,
            user.id if user else None,
            address=address,
            device_token=device_token,
            now=now,
        )
        return user, tried

    def params(self, username: str) -> KdfParams:
        """Step 1. Not logged: it reveals nothing that a failed attempt would not."""
        with self._uow.read() as db:
            user = db.exec(select(User).where(User.username == username)).first()
            if (
                user is not None
                and user.enabled
                and user.kdf_salt is not None
                and user.kdf_memory_kib is not None
                and user.kdf_time_cost is not None
                and user.kdf_lanes is not None
                and user.sealed_recovered_key is None
            ):
                return KdfParams(
                    bytes(user.kdf_salt),
                    Argon2Params(user.kdf_memory_kib, user.kdf_time_cost, user.kdf_lanes),
                )
            pepper = row_seal_guard.pepper_of(db)
        fake = hmac.new(pepper, _FAKE_SALT_LABEL + username.encode(), hashlib.sha256).digest()
        return KdfParams(fake[: crypto.PASSPHRASE_SALT_SIZE], self._settings.argon2)

    def challenge(
        self,
        username: str,
        verifier: bytes,
        otp: str | None,
        *,
        address: str,
        device_token: str | None,
    ) -> Challenge:
        """Step 2: ``AuthenticationFailed`` unless ``verifier`` is the account's and, where it
        needs one, ``otp`` a fresh one-time code (``OtpRequired`` without one). Both are
        checked before the sealed key leaves the server."""
        now = self._clock()
        with self._uow.audited(None, Action.AUTH_LOGIN_CHALLENGE) as work:
            db = work.db
            user, tried = self._attempt(db, username, address, device_token, now)
            failed = Action.AUTH_LOGIN_FAILED
            with login_checks.counted(work, tried.keys, now, username, failed, tried.free):
                if (
                    user is None
                    or not user.enabled
                    or user.login_verifier is None
                    or user.sealed_private_key is None
                    or user.public_key is None
                    or user.key_id is None
                    or user.sealed_recovered_key is not None
                    or not hmac.compare_digest(bytes(user.login_verifier), verifier)
                ):
                    raise AuthenticationFailed()
                totp = users.open_totp(user, row_seal_guard.pepper_of(db))
                with_otp = login_checks.check_code(db, self._settings, user, totp, otp, now)
            if user.key_rotation_required:
                # The key may be exposed: no session opens with it. A new key pair is made at
                # a server-side login (which has the passphrase to seal it), so say so; after
                # the checks above, so that only the account's owner learns it.
                work.fail(
                    Action.AUTH_LOGIN_CHALLENGE,
                    extra={"reason": "key-rotation-required"},
                    user=user.id,
                )
                raise Conflict(
                    "your administrator requires a new key pair before your next session: it "
                    "is made at a server-side login (`vault keys rotate`); for an end-to-end "
                    "only account, the administrator allows that once with `vault users "
                    "end-to-end NAME --either`"
                )
            challenge_id = uuid4()
            secret = os.urandom(32)
            found = Challenge(
                challenge_id,
                user.id,
                user.key_id,
                bytes(user.sealed_private_key),
                crypto.wrap_key(
                    secret,
                    PublicKey(bytes(user.public_key)),
                    kind=CHALLENGE_KIND,
                    subject_id=challenge_id,
                    commitment=None,
                ),
            )
            # Old challenges go with each new one: the table holds only live logins.
            db.execute(delete(LoginChallenge).where(col(LoginChallenge.expires_at) <= now))
            db.add(
                LoginChallenge(
                    id=challenge_id,
                    user_id=user.id,
                    key_id=user.key_id,
                    answer_hash=_answer_hash(challenge_id, secret),
                    with_otp=with_otp,
                    expires_at=now + timedelta(seconds=CHALLENGE_SECONDS),
                )
            )
            work.add(actor=user.id, user=user.id)
        return found

    def login(
        self,
        username: str,
        challenge_id: UUID,
        answer: bytes,
        *,
        address: str,
        device_token: str | None,
    ) -> IssuedCredential:
        """Step 3: a session that holds no key, or ``AuthenticationFailed``. The challenge is
        used up by the first answer, right or wrong."""
        now = self._clock()
        with self._uow.unaudited("an end-to-end login's challenge is answered once") as db:
            row = db.get(LoginChallenge, challenge_id)
            if row is not None:
                # Of two answers racing (on any replicas), only the one whose delete removed
                # the row goes on: the other finds the challenge used up.
                gone: CursorResult[Any] = db.execute(  # type: ignore[assignment]  # a DELETE gives a CursorResult; Session.execute is typed as Result
                    delete(LoginChallenge).where(col(LoginChallenge.id) == challenge_id)
                )
                if gone.rowcount != 1:
                    row = None
        with self._uow.audited(None, Action.AUTH_LOGIN, extra={"mode": "end-to-end"}) as work:
            db = work.db
            user, tried = self._attempt(db, username, address, device_token, now)
            failed = Action.AUTH_LOGIN_FAILED
            with login_checks.counted(work, tried.keys, now, username, failed, tried.free):
                if (
                    user is None
                    or row is None
                    or row.user_id != user.id
                    or row.expires_at <= now
                    or row.key_id != user.key_id
                    or not user.enabled
                    or not hmac.compare_digest(row.answer_hash, _answer_hash(challenge_id, answer))
                ):
                    raise AuthenticationFailed()
            work.add(actor=user.id)
            actor = Actor(user_id=user.id, username=user.username, role=Role(user.role))
            return login_checks.open_session(
                work,
                actor,
                tried,
                settings=self._settings,
                clock=self._clock,
                with_otp=row.with_otp,
                end_to_end=True,
            )
