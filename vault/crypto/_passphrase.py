"""WARNING: low-level passphrase key derivation. Use ``vault.crypto`` instead.

One Argon2id derivation per unlock; HKDF splits its output into a login verifier (stored, to
reject a wrong passphrase quickly and uniformly) and a key-encryption key (never stored) that
seals the user's private key seed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.errors import InvalidInput

SALT_SIZE = 16
# Cap the input before hashing: Argon2 accepts any length, and an attacker-chosen megabyte
# passphrase would cost the server for nothing.
MAX_PASSPHRASE_BYTES = 1024
_VERIFIER_INFO = b"source-vault/v1 login-verifier"
_KEK_INFO = b"source-vault/v1 key-encryption"


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters, stored with each user so they can be raised later.

    The defaults, and the floor, are RFC 9106 §4's second recommended option: 64 MiB, 3 passes,
    4 lanes.
    """

    memory_kib: int = 64 * 1024
    time_cost: int = 3
    lanes: int = 4

    FLOOR_MEMORY_KIB = 64 * 1024
    FLOOR_TIME_COST = 3
    FLOOR_LANES = 4

    def __post_init__(self) -> None:
        if (
            self.memory_kib < self.FLOOR_MEMORY_KIB
            or self.time_cost < self.FLOOR_TIME_COST
            or self.lanes < self.FLOOR_LANES
        ):
            raise InvalidInput(
                "Argon2id parameters are below RFC 9106's second recommended option "
                "(64 MiB, 3 passes, 4 lanes)"
            )
        if self.lanes > 64 or self.memory_kib > 4 * 1024 * 1024 or self.time_cost > 64:
            raise InvalidInput("Argon2id parameters are implausibly large")


@dataclass(frozen=True)
class PassphraseKeys:
    """What one Argon2id derivation yields."""

    verifier: bytes
    kek: bytes

    def __repr__(self) -> str:
        return "PassphraseKeys(<redacted>)"


def encode_passphrase(passphrase: str) -> bytes:
    # NFC so that the same passphrase typed on another keyboard or OS derives the same key.
    data = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    if len(data) > MAX_PASSPHRASE_BYTES:
        raise InvalidInput(f"passphrase is longer than {MAX_PASSPHRASE_BYTES} bytes")
    return data


def derive(passphrase: str, salt: bytes, params: Argon2Params) -> PassphraseKeys:
    if len(salt) != SALT_SIZE:
        raise ValueError("an Argon2id salt is 16 bytes")
    master = hash_secret_raw(
        encode_passphrase(passphrase),
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.lanes,
        hash_len=32,
        type=Type.ID,
    )

    def split(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)

    return PassphraseKeys(verifier=split(_VERIFIER_INFO), kek=split(_KEK_INFO))
