"""Enrolment end to end: the first passphrase is set on the person's machine.

With the one-time enrolment code, the client sends a public key, the private key sealed under
its passphrase, the salt, Argon2id parameters and login verifier it used (docs/format.md §4):
the server never receives the passphrase, the key-encryption key or the private key. The key
is named in the enrolment's log entry like any other (key transparency). Where the account's
role needs a second factor, the answer carries the TOTP provisioning URI, and the account is
confirmed with a first code and the login verifier (``confirm``), not the passphrase.

An account reset by account recovery (its new key pair sealed under the enrolment code, which
only the server can open) enrols server-side: the recovered key is not the client's to make.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import select

from vault import crypto
from vault.audit.actions import Action
from vault.clock import Clock
from vault.crypto import Argon2Params, PublicKey
from vault.errors import AuthenticationFailed, Conflict, IntegrityError, InvalidInput
from vault.services import login_checks, row_seal_guard, throttle, users
from vault.services.auth import ISSUER, Enrolment
from vault.services.uow import UnitOfWork
from vault.settings import Settings
from vault.storage.models import CaseMember, User

__all__ = ["ClientEnrolment", "EndToEndEnrolment"]

_VERIFIER_SIZE = 32
# A sealed private key (format §4.3): as long as any other, whatever the passphrase.
_SEALED_KEY_SIZE = len(
    crypto.seal_private_key(bytes(32), crypto.PrivateKey(bytes(32)), owner_id=UUID(int=1))
)


@dataclass(frozen=True)
class ClientEnrolment:
    """What an end-to-end client made for its account."""

    public_key: bytes
    salt: bytes
    params: Argon2Params
    verifier: bytes
    sealed_private_key: bytes

    def check(self) -> PublicKey:
        """The public key, once every part has its size (``InvalidInput`` otherwise)."""
        if len(self.salt) != crypto.PASSPHRASE_SALT_SIZE:
            raise InvalidInput(f"a salt is {crypto.PASSPHRASE_SALT_SIZE} bytes")
        if len(self.verifier) != _VERIFIER_SIZE:
            raise InvalidInput(f"a login verifier is {_VERIFIER_SIZE} bytes")
        if len(self.sealed_private_key) != _SEALED_KEY_SIZE:
            raise InvalidInput(f"a sealed private key is {_SEALED_KEY_SIZE} bytes")
        try:
            return PublicKey(self.public_key)
        except IntegrityError:
            raise InvalidInput("the public key is malformed") from None


class EndToEndEnrolment:
    def __init__(self, *, engine: Engine, settings: Settings, clock: Clock) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._settings = settings
        self._clock = clock

    def _keys(self, username: str, address: str) -> tuple[list[str], dict[str, int]]:
        free = {throttle.address_key(address): self._settings.address_free_failures}
        return [throttle.account_key(username), throttle.address_key(address)], free

    def start(self, username: str, code: str, *, address: str) -> tuple[UUID, Argon2Params]:
        """The account's id (which its sealed key is bound to) and the Argon2id parameters to
        seal it with, for the holder of its live enrolment code; the code stays usable for
        ``enroll``. A wrong code fails and counts as for ``enroll``."""
        now = self._clock()
        keys, free = self._keys(username, address)
        with self._uow.audited(None, Action.AUTH_ENROLL_START) as work:
            user = login_checks.enrolling(work, username, code, keys, now, free)
            work.add(actor=user.id, user=user.id)
            return user.id, self._settings.argon2

    def enroll(self, username: str, code: str, made: ClientEnrolment, *, address: str) -> Enrolment:
        """Give the account ``username`` the key pair its client made, with its enrolment code
        (wrong codes fail and count as for a server-side enrolment)."""
        public = made.check()
        now = self._clock()
        keys, free = self._keys(username, address)
        with self._uow.audited(None, Action.AUTH_ENROLL, extra={"mode": "end-to-end"}) as work:
            db = work.db
            user = login_checks.enrolling(work, username, code, keys, now, free)
            if user.sealed_recovered_key is not None:
                raise Conflict(
                    "this account was given a recovered key pair: enrol server-side "
                    "(POST /v1/auth/enroll) to take it up"
                )
            if db.exec(select(User.id).where(User.key_id == public.key_id)).first() is not None:
                raise Conflict("that public key belongs to another account")
            secret = (
                crypto.new_totp_secret() if users.totp_required(self._settings, user.role) else None
            )
            user.key_id = public.key_id
            user.public_key = public.to_bytes()
            user.sealed_private_key = made.sealed_private_key
            user.kdf_salt = made.salt
            user.kdf_memory_kib = made.params.memory_kib
            user.kdf_time_cost = made.params.time_cost
            user.kdf_lanes = made.params.lanes
            user.login_verifier = made.verifier
            user.sealed_totp = (
                None
                if secret is None
                else crypto.seal_totp_secret(row_seal_guard.pepper_of(db), secret, owner_id=user.id)
            )
            user.enrolment_code_hash = None
            user.enrolment_expires_at = None
            db.add(user)
            # A new key pair holds no document key yet: its cases have grants to complete.
            for member in db.exec(select(CaseMember).where(CaseMember.user_id == user.id)):
                member.keys_pending = True
                db.add(member)
            # Every key a user is given is named in the log (key transparency).
            work.add(actor=user.id, user=user.id, extra={"key_id": public.key_id})
        if secret is None:
            return Enrolment(active=True)
        return Enrolment(
            active=False, totp_uri=crypto.totp_uri(secret, account=username, issuer=ISSUER)
        )

    def confirm(self, username: str, verifier: bytes, otp: str, *, address: str) -> None:
        """Activate an account enrolled end to end with its first TOTP code, proving the
        passphrase by its login verifier."""
        now = self._clock()
        keys, free = self._keys(username, address)
        with self._uow.audited(
            None, Action.AUTH_ENROLL_CONFIRM, extra={"mode": "end-to-end"}
        ) as work:
            db = work.db
            failed = Action.AUTH_ENROLL_FAILED
            with login_checks.counted(work, keys, now, username, failed, free):
                user = db.exec(select(User).where(User.username == username)).first()
                if (
                    user is None
                    or user.login_verifier is None
                    or user.totp_confirmed
                    or not hmac.compare_digest(bytes(user.login_verifier), verifier)
                ):
                    raise AuthenticationFailed()
                secret = users.open_totp(user, row_seal_guard.pepper_of(db))
                if secret is None:
                    raise AuthenticationFailed()
                login_checks.use_code(db, user, secret, otp, now)
                user.totp_confirmed = True
                db.add(user)
                work.add(actor=user.id, user=user.id)
