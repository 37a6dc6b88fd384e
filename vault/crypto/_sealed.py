"""WARNING: low-level single-shot AEAD boxes. Use ``vault.crypto`` instead.

A sealed box is ``nonce(12) || AES-256-GCM(key, nonce, plaintext, aad)`` with a random nonce.
Used for small records: a document's metadata (under a key derived from its data key) and a
user's private key seed (under the passphrase key-encryption key).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.errors import IntegrityError

NONCE_SIZE = 12


def derive_subkey(key: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(key)


def seal(key: bytes, plaintext: bytes, *, aad: bytes, nonce: bytes | None = None) -> bytes:
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, box: bytes, *, aad: bytes) -> bytes:
    if len(box) < NONCE_SIZE + 16:
        raise IntegrityError("sealed record is too short", reason="sealed-record")
    try:
        return AESGCM(key).decrypt(box[:NONCE_SIZE], box[NONCE_SIZE:], aad)
    except InvalidTag:
        raise IntegrityError(
            "sealed record failed authentication", reason="sealed-record"
        ) from None
