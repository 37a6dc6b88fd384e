"""WARNING: low-level key pairs and HPKE key wrapping. Use ``vault.crypto`` instead.

Every reader of the vault (a user, the organisation recovery key) has one hybrid post-quantum
key pair: ML-KEM-768 + X25519, the HPKE KEM ``MLKEM768_X25519``. The private half is derived
from a 32-byte seed so that it can be sealed under a passphrase, or split into SLIP-39 shares,
as one small secret (``docs/format.md`` §3).
"""

from __future__ import annotations

import hashlib
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.crypto import _commit
from vault.errors import IntegrityError

SEED_SIZE = 32
MLKEM_PUBLIC_SIZE = 1184
X25519_SIZE = 32
PUBLIC_KEY_SIZE = MLKEM_PUBLIC_SIZE + X25519_SIZE
WRAPPED_KEY_SIZE = hpke.KEM.MLKEM768_X25519.enc_length() + 32 + 16
_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_SEED_INFO = b"source-vault/v1 key-pair"
_KEY_ID_PREFIX = b"source-vault/v1 key-id\x00"
_WRAP_INFO = b"source-vault/v1 wrap\x00"
_WRAP_INFO_V2 = b"source-vault/v2 wrap\x00"
_PROBE = x25519.X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


class PublicKey:
    """A reader's public key: ML-KEM-768 encapsulation key followed by an X25519 key."""

    __slots__ = ("_hpke", "_raw", "key_id")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != PUBLIC_KEY_SIZE:
            raise IntegrityError("public key has the wrong length", reason="bad-public-key")
        try:
            kem = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM_PUBLIC_SIZE])
            x = x25519.X25519PublicKey.from_public_bytes(raw[MLKEM_PUBLIC_SIZE:])
        except ValueError:
            raise IntegrityError("public key is malformed", reason="bad-public-key") from None
        try:
            # A low-order X25519 point makes every shared secret zero; refuse it at the door
            # rather than when a document is being wrapped for it.
            _PROBE.exchange(x)
        except ValueError:
            raise IntegrityError("public key is malformed", reason="bad-public-key") from None
        self._raw = raw
        self._hpke = hpke.MLKEM768X25519PublicKey(kem, x)
        self.key_id = hashlib.sha256(_KEY_ID_PREFIX + raw).hexdigest()

    def to_bytes(self) -> bytes:
        return self._raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"PublicKey(key_id={self.key_id[:16]}…)"


class PrivateKey:
    """A reader's private key, derived deterministically from a 32-byte seed."""

    __slots__ = ("_hpke", "_public", "_seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise ValueError("a key seed is 32 bytes")
        material = HKDF(
            algorithm=hashes.SHA256(), length=64 + 32, salt=None, info=_SEED_INFO
        ).derive(seed)
        kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(material[:64])
        x = x25519.X25519PrivateKey.from_private_bytes(material[64:])
        self._seed = seed
        self._hpke = hpke.MLKEM768X25519PrivateKey(kem, x)
        self._public = PublicKey(
            kem.public_key().public_bytes_raw() + x.public_key().public_bytes_raw()
        )

    @property
    def seed(self) -> bytes:
        return self._seed

    def public_key(self) -> PublicKey:
        return self._public

    def __repr__(self) -> str:
        # Never show the seed, even in a traceback or a debugger.
        return f"PrivateKey(key_id={self._public.key_id[:16]}…)"


def _wrap_info(kind: str, subject_id: UUID, key_id: str, commitment: bytes | None) -> bytes:
    # Version 2 binds the key's commitment: a copy wrapped for one reader opens only to the key
    # every other reader's copy commits to. ``None`` is a subject stored before version 2.
    label = _WRAP_INFO if commitment is None else _WRAP_INFO_V2
    info = label + kind.encode("ascii") + b"\x00" + subject_id.bytes + bytes.fromhex(key_id)
    return info if commitment is None else info + commitment


def wrap_key(
    key: bytes, recipient: PublicKey, *, kind: str, subject_id: UUID, commitment: bytes | None
) -> bytes:
    if commitment is not None:
        # Wrapping a key under another key's commitment is a caller's bug, never data.
        try:
            _commit.check(key, commitment, kind=kind, subject_id=subject_id)
        except IntegrityError:
            raise ValueError("the commitment is not the wrapped key's") from None
    info = _wrap_info(kind, subject_id, recipient.key_id, commitment)
    try:
        return _SUITE.encrypt(key, recipient._hpke, info=info)
    except ValueError:
        raise IntegrityError("cannot wrap for this public key", reason="bad-public-key") from None


def unwrap_key(
    wrapped: bytes,
    private_key: PrivateKey,
    *,
    kind: str,
    subject_id: UUID,
    commitment: bytes | None,
) -> bytes:
    info = _wrap_info(kind, subject_id, private_key.public_key().key_id, commitment)
    try:
        key = _SUITE.decrypt(wrapped, private_key._hpke, info=info)
    except (InvalidTag, ValueError):
        raise IntegrityError(
            "wrapped key does not open for this recipient and subject", reason="wrapped-key"
        ) from None
    if commitment is not None:
        # The wrapper bound the commitment, but only this proves the key is the committed one.
        _commit.check(key, commitment, kind=kind, subject_id=subject_id)
    return key
