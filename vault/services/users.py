"""Accounts and their keys: names, enrolment codes, passphrases, unlocking.

A user's private key exists in the database only sealed under a key-encryption key derived from
their passphrase (``docs/security-model.md``). Unlocking costs exactly one Argon2id derivation
whether or not the user exists, and fails with one message either way.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlmodel import Session, select

from vault import crypto
from vault.crypto import Argon2Params, PrivateKey
from vault.errors import (
    AuthenticationFailed,
    Conflict,
    IntegrityError,
    InvalidInput,
    KeyNotHeld,
    NotFound,
)
from vault.passphrase_policy import check_passphrase
from vault.settings import Settings
from vault.storage.models import CaseMember, Role, User

__all__ = [
    "Actor",
    "Unlocked",
    "check_passphrase",
    "check_username",
    "enrolment_code_matches",
    "find_user",
    "issue_enrolment_code",
    "reseal",
    "set_passphrase",
    "totp_required",
    "verify_passphrase",
]

UPLOAD = "upload"
READ = "read"
ALL_SCOPES = frozenset({UPLOAD, READ})
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# Unknown users are checked against this so that they cost the same derivation as real ones.
_DUMMY_SALT = bytes(16)
_CODE_LABEL = "enrolment-code"


@dataclass(frozen=True)
class Actor:
    """Who is acting. ``key`` is the unlocked private key, or ``None`` for an actor that may
    write but not read (an upload-only token, an administrator acting without a passphrase)."""

    user_id: UUID
    username: str
    role: Role
    key: PrivateKey | None = None
    scopes: frozenset[str] = ALL_SCOPES
    credential_id: UUID | None = None
    via_token: bool = False
    end_to_end: bool = False  # the client holds the key (vault.services.e2e_login)

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def require_key(self) -> PrivateKey:
        if self.key is None:
            if self.end_to_end:
                raise KeyNotHeld()
            raise AuthenticationFailed("this action needs an unlocked key")
        return self.key


def find_user(db: Session, username: str) -> User:
    user = db.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound("no such user")
    return user


def check_username(username: str) -> None:
    """``InvalidInput`` unless ``username`` is one an account may have."""
    if not _USERNAME.match(username):
        raise InvalidInput(
            "username must be 2-64 characters: lowercase letters, digits, '.', '_' or '-'"
        )


def totp_required(settings: Settings, role: Role | str) -> bool:
    """Whether the vault requires a one-time code of accounts with ``role``."""
    return str(role) in settings.totp_roles


def end_to_end_only(settings: Settings, user: User) -> bool:
    """Whether ``user`` may log in end to end only: set on the account, or required of its
    role by the vault (``end_to_end_only_roles``)."""
    return user.end_to_end_only or str(user.role) in settings.end_to_end_roles


def issue_enrolment_code(user: User, *, expires_at: datetime) -> str:
    """A new one-time enrolment code for ``user`` (not committed): only its hash is kept."""
    code = "-".join(secrets.token_hex(3) for _ in range(4))  # 96 bits, easy to read out
    user.enrolment_code_hash = _code_hash(code)
    user.enrolment_expires_at = expires_at
    return code


def enrolment_code_matches(user: User | None, code: str, now: datetime) -> bool:
    """Whether ``code`` is the live enrolment code of ``user``, an enabled account."""
    return (
        user is not None
        and user.enabled
        and user.enrolment_code_hash is not None
        and user.enrolment_expires_at is not None
        and user.enrolment_expires_at > now
        and hmac.compare_digest(user.enrolment_code_hash, _code_hash(code))
    )


def _code_hash(code: str) -> str:
    return crypto.hash_bearer_token(_CODE_LABEL + ":" + code)


def set_passphrase(
    db: Session,
    user: User,
    passphrase: str,
    params: Argon2Params,
    *,
    totp_secret: bytes | None = None,
    key: PrivateKey | None = None,
) -> PrivateKey:
    """Give ``user`` a new key pair (or ``key``, one account recovery made for them) sealed
    under ``passphrase`` and, with ``totp_secret``, a TOTP secret sealed the same way (not
    committed)."""
    check_passphrase(passphrase)
    key = key or crypto.generate_private_key()
    pepper = _pepper(db)
    reseal(user, key, passphrase, params, totp_secret=totp_secret, pepper=pepper)
    db.add(user)
    # A new key pair holds no document key yet: every case of theirs has grants to complete.
    for member in db.exec(select(CaseMember).where(CaseMember.user_id == user.id)):
        member.keys_pending = True
        db.add(member)
    return key


_TOTP_LABEL = "totp-secret"


def reseal(
    user: User,
    key: PrivateKey,
    passphrase: str,
    params: Argon2Params,
    *,
    totp_secret: bytes | None,
    pepper: bytes,
) -> None:
    """Seal ``key`` (it becomes the user's key pair) under ``passphrase`` with fresh salt and
    ``params``, and ``totp_secret`` under the server's key from ``pepper`` (not committed)."""
    salt = crypto.new_passphrase_salt()
    keys = crypto.derive_passphrase_keys(passphrase, salt, params)
    public = key.public_key()
    user.key_id = public.key_id
    user.public_key = public.to_bytes()
    user.sealed_private_key = crypto.seal_private_key(keys.kek, key, owner_id=user.id)
    user.kdf_salt = salt
    user.kdf_memory_kib = params.memory_kib
    user.kdf_time_cost = params.time_cost
    user.kdf_lanes = params.lanes
    user.login_verifier = keys.verifier
    user.sealed_totp = (
        None
        if totp_secret is None
        else crypto.seal_totp_secret(pepper, totp_secret, owner_id=user.id)
    )


def _pepper(db: Session) -> bytes:
    # Imported here: the guard's module imports the units of work, which import this one.
    from vault.services.row_seal_guard import pepper_of

    return pepper_of(db)


def open_totp(user: User, pepper: bytes, kek: bytes | None = None) -> bytes | None:
    """``user``'s TOTP secret, or ``None`` if they have none. Sealed under the server's key
    (format version 2); one sealed under the passphrase's key (version 1) opens only with
    ``kek``, and is moved under the server's key then (not committed). ``Conflict`` for a
    version-1 secret without ``kek``: an end-to-end login cannot check its codes yet."""
    if user.sealed_totp is None:
        return None
    try:
        return crypto.open_totp_secret(pepper, user.sealed_totp, owner_id=user.id)
    except IntegrityError:
        if kek is None:
            raise Conflict(
                "this account's one-time-code secret predates end-to-end logins: log in once "
                "with the passphrase (without --end-to-end) to move it"
            ) from None
    secret = crypto.open_with_kek(kek, user.sealed_totp, label=_TOTP_LABEL, owner_id=user.id)
    user.sealed_totp = crypto.seal_totp_secret(pepper, secret, owner_id=user.id)
    return secret


@dataclass(frozen=True)
class _KeyRecord:
    """The key columns of an enrolled user, all present."""

    key_id: str
    sealed: bytes
    salt: bytes
    verifier: bytes
    params: Argon2Params


def _key_record(user: User) -> _KeyRecord | None:
    """The user's key columns, or ``None`` before enrolment; a half-filled record is damage.
    A recovered account awaiting enrolment has its new key id (and public key) already, and
    nothing sealed under a passphrase: not enrolled either."""
    columns = (
        None if user.sealed_recovered_key is not None else user.key_id,
        user.sealed_private_key,
        user.kdf_salt,
        user.login_verifier,
        user.kdf_memory_kib,
        user.kdf_time_cost,
        user.kdf_lanes,
    )
    if all(c is None for c in columns):
        return None
    key_id, sealed, salt, verifier, memory, time_cost, lanes = columns
    if not (key_id and sealed and salt and verifier and memory and time_cost and lanes):
        raise IntegrityError("the account's key record is incomplete", reason="user-record")
    params = Argon2Params(memory_kib=memory, time_cost=time_cost, lanes=lanes)
    return _KeyRecord(key_id, sealed, salt, verifier, params)


@dataclass(frozen=True)
class Unlocked:
    """A user whose passphrase checked out: their row, private key and TOTP secret (if any)."""

    user: User
    key: PrivateKey
    totp_secret: bytes | None

    @property
    def actor(self) -> Actor:
        return actor_for(self.user, self.key)


def verify_passphrase(
    db: Session, username: str, passphrase: str, *, params: Argon2Params
) -> Unlocked:
    """Check a passphrase and open what it seals.

    Raises ``AuthenticationFailed`` (one message) for an unknown, disabled or not yet enrolled
    user and for a wrong passphrase, after the same Argon2id work in every case. If the stored
    parameters are below ``params`` everything is re-sealed with them (not committed).
    """
    user = db.exec(select(User).where(User.username == username)).first()
    record = _key_record(user) if user is not None and user.enabled else None
    if user is None or record is None:
        crypto.derive_passphrase_keys(passphrase, _DUMMY_SALT, params)
        raise AuthenticationFailed()
    keys = crypto.derive_passphrase_keys(passphrase, record.salt, record.params)
    if not hmac.compare_digest(keys.verifier, record.verifier):
        raise AuthenticationFailed()
    key = crypto.open_private_key(keys.kek, record.sealed, owner_id=user.id, key_id=record.key_id)
    before, pepper = user.sealed_totp, _pepper(db)
    totp_secret = open_totp(user, pepper, keys.kek)
    if _weaker(record.params, params):
        reseal(user, key, passphrase, params, totp_secret=totp_secret, pepper=pepper)
    if _weaker(record.params, params) or user.sealed_totp != before:
        db.add(user)
    return Unlocked(user=user, key=key, totp_secret=totp_secret)


def _weaker(stored: Argon2Params, wanted: Argon2Params) -> bool:
    return (
        stored.memory_kib < wanted.memory_kib
        or stored.time_cost < wanted.time_cost
        or stored.lanes < wanted.lanes
    )


def actor_for(user: User, key: PrivateKey | None = None) -> Actor:
    return Actor(user_id=user.id, username=user.username, role=Role(user.role), key=key)
