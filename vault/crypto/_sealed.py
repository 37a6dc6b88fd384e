"""WARNING: low-level single-shot AEAD boxes. Use ``vault.crypto`` instead.

A sealed box is ``nonce(12) || AES-256-GCM(key, nonce, plaintext, aad)`` with a random nonce.
Used for small records: a document's metadata (under a key derived from its data key) and a
user's private key seed (under the passphrase key-encryption key).

``fixed_nonces`` is for the test vectors alone (``tests/vectors/generate.py``): it makes the
public sealing functions of ``vault.crypto`` use given nonces, so that the vectors come from the
very functions the vault calls.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.errors import IntegrityError

NONCE_SIZE = 12

# The nonces ``fixed_nonces`` hands out, in order; unset everywhere but in the vector generator.
_fixed: contextvars.ContextVar[Iterator[bytes] | None] = contextvars.ContextVar(
    "fixed_nonces", default=None
)


@contextlib.contextmanager
def fixed_nonces(*nonces: bytes) -> Iterator[None]:
    """Within the block, each seal that draws a nonce takes the next of ``nonces`` instead; a
    seal beyond the last is an error, not a silent random nonce (a vector would not repeat)."""
    if any(len(n) != NONCE_SIZE for n in nonces):
        raise ValueError("a nonce is 12 bytes")
    token = _fixed.set(iter(nonces))
    try:
        yield
    finally:
        _fixed.reset(token)


def _draw_nonce() -> bytes:
    fixed = _fixed.get()
    if fixed is None:
        return os.urandom(NONCE_SIZE)
    try:
        return next(fixed)
    except StopIteration:
        raise RuntimeError("fixed_nonces ran out of nonces") from None


def derive_subkey(key: bytes, label: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=label).derive(key)


def seal(key: bytes, plaintext: bytes, *, aad: bytes, nonce: bytes | None = None) -> bytes:
    nonce = _draw_nonce() if nonce is None else nonce
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
