"""WARNING: low-level Ed25519 signing. Use ``vault.crypto`` instead.

The access log signs its checkpoints with one Ed25519 key (RFC 8032), as C2SP signed notes
require.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SEED_SIZE = 32
PUBLIC_SIZE = 32
SIGNATURE_SIZE = 64


class SigningKey:
    """An Ed25519 key pair from its 32-byte seed."""

    __slots__ = ("_key", "_seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._seed = seed
        self._key = Ed25519PrivateKey.from_private_bytes(seed)

    @property
    def seed(self) -> bytes:
        return self._seed

    def public_bytes(self) -> bytes:
        return self._key.public_key().public_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_bytes().hex()[:16]}…)"


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != PUBLIC_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
