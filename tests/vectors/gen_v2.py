"""``stream-v2.json`` and ``wrap-v2.json``: format version 2 of the content stream and of
wrapped keys, which commit to the data key (docs/format.md §2 and §3.3 describe them).

Made by the same writers as version 1 (``_stream.encrypt_segments`` with ``version=2``,
``_keys.wrap_key`` with a commitment from ``vault.crypto.key_commitment``). HPKE is randomised,
so ``wrap-v2.json`` keeps its wrapped keys while they still open, as ``wrap.json`` does.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tests.vectors.common import (
    DOCUMENT_ID,
    GENERATOR,
    OTHER_DOCUMENT_ID,
    OTHER_RECIPIENT_SEED,
    RECIPIENT_SEED,
    SOURCE_ID,
    check,
    expect_failure,
    flip,
    pattern,
)
from tests.vectors.gen_records import DATA_KEY, OTHER_DATA_KEY
from vault import crypto
from vault.crypto import _keys, _stream
from vault.errors import IntegrityError

VERSION = 2
SALT = bytes.fromhex("5a17000000000000000000000000000000000000000000000000000000000003")
NONCE_PREFIX = bytes.fromhex("4e4f4e4345f00f")
SEGMENT = 64
HEADER = 96
WRAP_KEY = bytes.fromhex("d47a5e0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7")


def _header(fmt: str) -> dict[str, Any]:
    return {"format": fmt, "version": VERSION, "generator": GENERATOR}


def _encrypt(plaintext: bytes, version: int = VERSION, key: bytes = DATA_KEY) -> bytes:
    return b"".join(
        _stream.encrypt_segments(
            key,
            DOCUMENT_ID,
            [plaintext],
            segment_size=SEGMENT,
            salt=SALT,
            nonce_prefix=NONCE_PREFIX,
            version=version,
        )
    )


def _commitment(key: bytes, kind: str = "document", subject: UUID = DOCUMENT_ID) -> bytes:
    return crypto.key_commitment(key, kind=kind, subject_id=subject)


def stream_v2_vectors() -> dict[str, Any]:
    commitment = _commitment(DATA_KEY)
    valid = []
    for size in (0, 1, SEGMENT, 3 * SEGMENT + 5):
        blob = _encrypt(pattern(size))
        check(blob[HEADER - 32 : HEADER] == commitment, "the header carries the commitment")
        check(len(blob) == _stream.ciphertext_size(size, SEGMENT, version=VERSION), "size")
        valid.append(
            {
                "id": f"seg{SEGMENT}-{size}-bytes",
                "data_key": DATA_KEY.hex(),
                "document_id": str(DOCUMENT_ID),
                "segment_size": SEGMENT,
                "salt": SALT.hex(),
                "nonce_prefix": NONCE_PREFIX.hex(),
                "commitment": commitment.hex(),
                "plaintext": pattern(size).hex(),
                "ciphertext": blob.hex(),
            }
        )
    good = _encrypt(pattern(3 * SEGMENT + 5))
    other = _commitment(OTHER_DATA_KEY)
    cases: list[tuple[str, str, bytes, bytes, bytes | None, str]] = [
        ("other-commitment-expected", "an intact stream whose record names another commitment",
         good, DATA_KEY, other, "key-commitment"),
        ("version-1-where-commitment-expected", "the same content in version 1, read for a "
         "record that names a commitment", _encrypt(pattern(3 * SEGMENT + 5), 1), DATA_KEY,
         commitment, "key-commitment"),
        ("header-commitment-flipped", "bit 0 of the header's commitment (offset 64) flipped, "
         "no commitment expected", flip(good, 64), DATA_KEY, None, "key-commitment"),
        ("wrong-data-key", "an intact stream opened with another data key", good, OTHER_DATA_KEY,
         None, "key-commitment"),
        ("shorter-than-header", "the first 95 bytes", good[:95], DATA_KEY, commitment,
         "truncated"),
        ("bit-flipped-in-segment", "bit 7 of byte 10 of segment 1", flip(good, HEADER + 90, 7),
         DATA_KEY, commitment, "segment-auth"),
        ("relabelled-version-1", "version byte set to 1: the rest no longer parses as segments",
         good[:4] + b"\x01" + good[5:], DATA_KEY, None, "segment-auth"),
    ]  # fmt: skip
    invalid = [
        {
            "id": name,
            "description": description,
            "data_key": key.hex(),
            "document_id": str(DOCUMENT_ID),
            "commitment": expected.hex() if expected is not None else None,
            "ciphertext": blob.hex(),
            "reason": reason,
        }
        for name, description, blob, key, expected, reason in cases
    ]
    for vector in invalid:
        expect_failure("stream-v2", vector, _decrypt)
    return {**_header("content stream version 2, docs/format.md section 2"), "valid": valid,
            "invalid": invalid}  # fmt: skip


def _decrypt(vector: dict[str, Any]) -> bytes:
    commitment = vector["commitment"]
    return b"".join(
        crypto.decrypt_stream(
            bytes.fromhex(vector["data_key"]),
            UUID(vector["document_id"]),
            [bytes.fromhex(vector["ciphertext"])],
            commitment=bytes.fromhex(commitment) if commitment is not None else None,
        )
    )


def wrap_v2_vectors(previous: dict[str, Any] | None) -> dict[str, Any]:
    recipient = _keys.PrivateKey(RECIPIENT_SEED)
    public = recipient.public_key()
    kept = {v["id"]: v for v in (previous or {}).get("valid", [])}
    valid = []
    for name, kind, subject in [("document", "document", DOCUMENT_ID),
                                ("source", "source", SOURCE_ID)]:  # fmt: skip
        commitment = _commitment(WRAP_KEY, kind, subject)
        wrapped = None
        old = kept.get(name)
        if old is not None:
            try:
                opened = crypto.unwrap_key(
                    bytes.fromhex(old["wrapped"]), recipient, kind=kind, subject_id=subject,
                    commitment=commitment,
                )  # fmt: skip
                wrapped = bytes.fromhex(old["wrapped"]) if opened == WRAP_KEY else None
            except IntegrityError:
                wrapped = None
        if wrapped is None:
            wrapped = crypto.wrap_key(
                WRAP_KEY, public, kind=kind, subject_id=subject, commitment=commitment
            )
        valid.append(
            {
                "id": name,
                "recipient_seed": RECIPIENT_SEED.hex(),
                "recipient_key_id": public.key_id,
                "kind": kind,
                "subject_id": str(subject),
                "commitment": commitment.hex(),
                "wrapped": wrapped.hex(),
                "data_key": WRAP_KEY.hex(),
            }
        )
    doc = bytes.fromhex(valid[0]["wrapped"])
    right = _commitment(WRAP_KEY)
    cases: list[tuple[str, str, bytes, str, UUID, bytes | None]] = [
        ("without-commitment", "opened as a version 1 wrap (no commitment in the info)",
         RECIPIENT_SEED, "document", DOCUMENT_ID, None),
        ("other-commitment", "opened with another key's commitment", RECIPIENT_SEED,
         "document", DOCUMENT_ID, _commitment(OTHER_DATA_KEY)),
        ("other-subject", "opened for another document (and its commitment)", RECIPIENT_SEED,
         "document", OTHER_DOCUMENT_ID, _commitment(WRAP_KEY, "document", OTHER_DOCUMENT_ID)),
        ("other-recipient", "opened with another recipient's seed", OTHER_RECIPIENT_SEED,
         "document", DOCUMENT_ID, right),
    ]  # fmt: skip
    invalid = [
        {
            "id": name,
            "description": description,
            "recipient_seed": seed.hex(),
            "kind": kind,
            "subject_id": str(subject),
            "commitment": commitment.hex() if commitment is not None else None,
            "wrapped": doc.hex(),
            "reason": "wrapped-key",
        }
        for name, description, seed, kind, subject, commitment in cases
    ]
    for vector in invalid:
        expect_failure("wrap-v2", vector, _unwrap)
    return {
        **_header("wrapped data key version 2, docs/format.md section 3.3"),
        "note": "HPKE encryption is randomised: these vectors are checked in the decrypt "
        "direction only",
        "valid": valid,
        "invalid": invalid,
    }


def _unwrap(vector: dict[str, Any]) -> bytes:
    commitment = vector["commitment"]
    return crypto.unwrap_key(
        bytes.fromhex(vector["wrapped"]),
        _keys.PrivateKey(bytes.fromhex(vector["recipient_seed"])),
        kind=vector["kind"],
        subject_id=UUID(vector["subject_id"]),
        commitment=bytes.fromhex(commitment) if commitment is not None else None,
    )
