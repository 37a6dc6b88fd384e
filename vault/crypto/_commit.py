"""WARNING: low-level key commitment. Use ``vault.crypto`` instead.

AES-GCM is not key-committing: one ciphertext can be crafted to authenticate under two keys,
to two different plaintexts (Albertini, Duong, Gueron, Kölbl, Luykx, Schmieg, "How to Abuse
and Fix Authenticated Encryption Without Key Commitment", USENIX Security 2022). Every reader of
a document holds their own wrapped copy of its key, so whoever could write those copies could
hand two editors two keys for one blob, and they would read two documents under one
ciphertext hash. The commitment closes that: a 32-byte value derived from the key, written in
the content header, bound into every wrapped copy's HPKE info and checked against the key
before anything it protects is released (``docs/format.md`` §2.6, §3.3). Two keys with one
commitment would be a collision of HMAC-SHA256.
"""

from __future__ import annotations

import hmac
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.errors import IntegrityError

SIZE = 32
_INFO = b"source-vault/v2 key-commitment\x00"


def commitment(key: bytes, *, kind: str, subject_id: UUID) -> bytes:
    """What ``key`` commits to as the key of ``kind`` ("document", "source") ``subject_id``."""
    if len(key) != 32:
        raise ValueError("a data key is 32 bytes")
    info = _INFO + kind.encode("ascii") + b"\x00" + subject_id.bytes
    return HKDF(algorithm=hashes.SHA256(), length=SIZE, salt=None, info=info).derive(key)


def check(key: bytes, expected: bytes, *, kind: str, subject_id: UUID) -> None:
    """``IntegrityError`` (``key-commitment``) unless ``key`` is the key ``expected`` commits to."""
    if not hmac.compare_digest(commitment(key, kind=kind, subject_id=subject_id), expected):
        raise IntegrityError(
            f"the key is not the one the {kind}'s commitment names", reason="key-commitment"
        )
