"""Write the test vectors of ``docs/format.md`` (version 1) into ``tests/vectors/*.json``.

Run from the repository root::

    .venv/bin/python -m tests.vectors.generate

Every key, salt, nonce prefix, nonce, seed and id is fixed, and every format but one is
deterministic in them, so the files come out byte for byte the same on every run;
``tests/vault/test_vectors_regenerate.py`` regenerates them into a temporary directory and
compares. The exception is HPKE wrapping, which draws a fresh encapsulation each time: a wrapped
key already in ``wrap.json`` is kept as long as it still opens to the expected data key, and a
fresh one is made only for a vector that is new or no longer opens (which means the format
changed: bump the version).

The vectors come from the functions the vault itself calls (``vault.crypto``, the services'
record writers, ``vault.initialise.write_shares``), with their randomness fixed through private
seams: ``_stream.encrypt_segments`` with a given salt and nonce prefix, ``_sealed.fixed_nonces``
for every sealed box, and the SLIP-0039 library's random source for the recovery shares. The
families live in ``gen_*.py`` beside this file; ``common.py`` holds what they share.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from tests.vectors import gen_canonical, gen_records, gen_recovery, gen_secrets, gen_v2
from tests.vectors.common import (
    DOCUMENT_ID,
    OTHER_DOCUMENT_ID,
    OTHER_RECIPIENT_SEED,
    RECIPIENT_SEED,
    SOURCE_ID,
    check,
    expect_failure,
    flip,
    pattern,
    render,
)
from tests.vectors.common import (
    header as file_header,
)
from vault import crypto
from vault.crypto import _keys, _stream
from vault.errors import IntegrityError

HERE = Path(__file__).resolve().parent
V1_HEADER_SIZE = 64

# -- fixed inputs ------------------------------------------------------------------------------

DATA_KEY = gen_records.DATA_KEY
OTHER_DATA_KEY = gen_records.OTHER_DATA_KEY
SALT = bytes.fromhex("5a17000000000000000000000000000000000000000000000000000000000001")
OTHER_SALT = bytes.fromhex("5a17000000000000000000000000000000000000000000000000000000000002")
NONCE_PREFIX = bytes.fromhex("4e4f4e4345f00d")
OTHER_NONCE_PREFIX = bytes.fromhex("4e4f4e4345f00e")

WRAP_DATA_KEY = bytes.fromhex("d47a5e0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7")


SMALL_SEGMENT = 64
LARGE_SEGMENT = 1024


# -- stream.json -------------------------------------------------------------------------------


def encrypt(
    plaintext: bytes,
    *,
    segment_size: int,
    data_key: bytes = DATA_KEY,
    document_id: UUID = DOCUMENT_ID,
    salt: bytes = SALT,
    nonce_prefix: bytes = NONCE_PREFIX,
) -> bytes:
    return b"".join(
        _stream.encrypt_segments(
            data_key,
            document_id,
            [plaintext],
            segment_size=segment_size,
            salt=salt,
            nonce_prefix=nonce_prefix,
            version=1,
        )
    )


def segments(blob: bytes, segment_size: int) -> list[bytes]:
    """The sealed segments of a stream (its header removed)."""
    body = blob[V1_HEADER_SIZE:]
    step = segment_size + _stream.TAG_SIZE
    return [body[i : i + step] for i in range(0, len(body), step)]


def stream_vectors() -> dict[str, Any]:
    sizes = [
        ("empty", 0),
        ("one-byte", 1),
        ("segment-minus-one", SMALL_SEGMENT - 1),
        ("one-segment", SMALL_SEGMENT),
        ("segment-plus-one", SMALL_SEGMENT + 1),
        ("three-segments-plus-five", 3 * SMALL_SEGMENT + 5),
    ]
    valid: list[dict[str, Any]] = []
    for name, size in sizes:
        valid.append(_valid_stream(f"seg{SMALL_SEGMENT}-{name}", size, SMALL_SEGMENT))
    valid.append(_valid_stream(f"seg{LARGE_SEGMENT}-two-segments-plus-452", 2500, LARGE_SEGMENT))

    # The invalid vectors damage one stream: 197 bytes in 64-byte segments, so four sealed
    # segments of 80, 80, 80 and 21 bytes after the 64-byte header.
    seg = SMALL_SEGMENT
    good = encrypt(pattern(3 * seg + 5), segment_size=seg)
    header = good[:V1_HEADER_SIZE]
    s0, s1, s2, s3 = segments(good, seg)
    other = encrypt(pattern(3 * seg + 5), segment_size=seg, salt=OTHER_SALT)
    o1 = segments(other, seg)[1]
    moved_header = header[:48] + OTHER_DOCUMENT_ID.bytes
    last_tag = len(good) - 1

    invalid_cases: list[tuple[str, str, bytes, UUID, bytes, str]] = [
        (
            "truncated-at-segment-boundary",
            "header and the first two segments only",
            header + s0 + s1,
            DOCUMENT_ID,
            DATA_KEY,
            "truncated",
        ),
        (
            "last-segment-dropped",
            "the final (last-flagged) segment removed",
            header + s0 + s1 + s2,
            DOCUMENT_ID,
            DATA_KEY,
            "truncated",
        ),
        (
            "truncated-inside-segment",
            "cut 40 bytes into the second segment",
            header + s0 + s1[:40],
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "truncated-inside-tag",
            "cut 10 bytes into the last segment, shorter than a tag",
            header + s0 + s1 + s2 + s3[:10],
            DOCUMENT_ID,
            DATA_KEY,
            "truncated",
        ),
        (
            "header-only",
            "the 64-byte header and nothing else",
            header,
            DOCUMENT_ID,
            DATA_KEY,
            "truncated",
        ),
        (
            "shorter-than-header",
            "the first 63 bytes of the header",
            header[:63],
            DOCUMENT_ID,
            DATA_KEY,
            "truncated",
        ),
        ("empty", "zero bytes", b"", DOCUMENT_ID, DATA_KEY, "truncated"),
        (
            "segments-swapped",
            "segments 0 and 1 exchanged",
            header + s1 + s0 + s2 + s3,
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "segment-duplicated",
            "segment 0 repeated in place of segment 1",
            header + s0 + s0 + s2 + s3,
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "segment-inserted-twice",
            "segment 1 appears twice",
            header + s0 + s1 + s1 + s2 + s3,
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "segment-spliced",
            "segment 1 taken from a stream with the same key, other salt",
            header + s0 + o1 + s2 + s3,
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "trailing-byte",
            "one byte appended after the last segment",
            good + b"\x00",
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "header-document-id-changed",
            "header rewritten to name another document, read as that document",
            moved_header + good[V1_HEADER_SIZE:],
            OTHER_DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "wrong-document",
            "an intact stream presented as another document's content",
            good,
            OTHER_DOCUMENT_ID,
            DATA_KEY,
            "wrong-document",
        ),
        (
            "wrong-data-key",
            "an intact stream opened with another data key",
            good,
            DOCUMENT_ID,
            OTHER_DATA_KEY,
            "segment-auth",
        ),
        (
            "bit-flipped-in-header-salt",
            "bit 0 of salt byte 0 (offset 9) flipped",
            flip(good, 9),
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "bit-flipped-in-header-nonce-prefix",
            "bit 3 of nonce prefix byte 6 (offset 47)",
            flip(good, 47, 3),
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "bit-flipped-in-middle-segment",
            "bit 7 of byte 10 of segment 1",
            flip(good, V1_HEADER_SIZE + len(s0) + 10, 7),
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "bit-flipped-in-last-tag",
            "bit 0 of the last byte of the stream (last segment's tag)",
            flip(good, last_tag),
            DOCUMENT_ID,
            DATA_KEY,
            "segment-auth",
        ),
        (
            "wrong-version",
            "version byte (offset 4) set to 3",
            header[:4] + b"\x03" + good[5:],
            DOCUMENT_ID,
            DATA_KEY,
            "unsupported-version",
        ),
        (
            "wrong-magic",
            "magic (offsets 0-3) set to 'SVLU'",
            b"SVLU" + good[4:],
            DOCUMENT_ID,
            DATA_KEY,
            "bad-header",
        ),
        (
            "segment-size-too-small",
            "header segment size (offsets 5-8) set to 15",
            good[:5] + (15).to_bytes(4, "big") + good[9:],
            DOCUMENT_ID,
            DATA_KEY,
            "bad-header",
        ),
        (
            "segment-size-too-large",
            "header segment size set to 64 MiB + 1",
            good[:5] + ((64 << 20) + 1).to_bytes(4, "big") + good[9:],
            DOCUMENT_ID,
            DATA_KEY,
            "bad-header",
        ),
    ]
    invalid = [
        {
            "id": name,
            "description": description,
            "data_key": key.hex(),
            "document_id": str(doc),
            "ciphertext": blob.hex(),
            "reason": reason,
        }
        for name, description, blob, doc, key, reason in invalid_cases
    ]
    for vector in invalid:
        expect_failure("stream", vector, _decrypt_stream)
    return {
        **file_header("content stream, docs/format.md section 2"),
        "valid": valid,
        "invalid": invalid,
    }


def _valid_stream(name: str, size: int, segment_size: int) -> dict[str, Any]:
    plaintext = pattern(size)
    blob = encrypt(plaintext, segment_size=segment_size)
    check(len(blob) == _stream.ciphertext_size(size, segment_size, version=1), f"size of {name}")
    return {
        "id": name,
        "data_key": DATA_KEY.hex(),
        "document_id": str(DOCUMENT_ID),
        "segment_size": segment_size,
        "salt": SALT.hex(),
        "nonce_prefix": NONCE_PREFIX.hex(),
        "plaintext": plaintext.hex(),
        "ciphertext": blob.hex(),
    }


def _decrypt_stream(vector: dict[str, Any]) -> bytes:
    return b"".join(
        crypto.decrypt_stream(
            bytes.fromhex(vector["data_key"]),
            UUID(vector["document_id"]),
            [bytes.fromhex(vector["ciphertext"])],
            commitment=None,
        )
    )


# -- wrap.json ---------------------------------------------------------------------------------


def wrap_vectors(previous: dict[str, Any] | None) -> dict[str, Any]:
    recipient = _keys.PrivateKey(RECIPIENT_SEED)
    public = recipient.public_key()
    kept = {v["id"]: v for v in (previous or {}).get("valid", [])}

    def wrapped_for(name: str, kind: str, subject: UUID) -> bytes:
        old = kept.get(name)
        if old is not None and old.get("recipient_seed") == RECIPIENT_SEED.hex():
            wrapped = bytes.fromhex(old["wrapped"])
            try:
                if _keys.unwrap_key(
                    wrapped, recipient, kind=kind, subject_id=subject, commitment=None
                ) == (WRAP_DATA_KEY):
                    return wrapped
            except IntegrityError:
                pass
        return _keys.wrap_key(WRAP_DATA_KEY, public, kind=kind, subject_id=subject, commitment=None)

    valid = []
    for name, kind, subject in [
        ("document", "document", DOCUMENT_ID),
        ("source", "source", SOURCE_ID),
    ]:
        wrapped = wrapped_for(name, kind, subject)
        check(len(wrapped) == _keys.WRAPPED_KEY_SIZE, f"size of wrap vector {name}")
        valid.append(
            {
                "id": name,
                "recipient_seed": RECIPIENT_SEED.hex(),
                "recipient_public_key": public.to_bytes().hex(),
                "recipient_key_id": public.key_id,
                "kind": kind,
                "subject_id": str(subject),
                "wrapped": wrapped.hex(),
                "data_key": WRAP_DATA_KEY.hex(),
            }
        )

    doc = bytes.fromhex(valid[0]["wrapped"])
    enc_size = len(doc) - len(WRAP_DATA_KEY) - 16
    invalid_cases: list[tuple[str, str, bytes, bytes, str, UUID]] = [
        (
            "other-subject",
            "opened for another document id",
            doc,
            RECIPIENT_SEED,
            "document",
            OTHER_DOCUMENT_ID,
        ),
        (
            "other-kind",
            "a document's wrapped key opened as a source's (same id)",
            doc,
            RECIPIENT_SEED,
            "source",
            DOCUMENT_ID,
        ),
        (
            "other-recipient",
            "opened with another recipient's seed",
            doc,
            OTHER_RECIPIENT_SEED,
            "document",
            DOCUMENT_ID,
        ),
        (
            "bit-flipped-in-x25519-enc",
            "bit 0 of the last byte of enc (X25519 ephemeral key)",
            flip(doc, enc_size - 1),
            RECIPIENT_SEED,
            "document",
            DOCUMENT_ID,
        ),
        (
            "bit-flipped-in-mlkem-enc",
            "bit 0 of the first byte of enc (ML-KEM ciphertext)",
            flip(doc, 0),
            RECIPIENT_SEED,
            "document",
            DOCUMENT_ID,
        ),
        (
            "bit-flipped-in-ciphertext",
            "bit 0 of the first byte after enc",
            flip(doc, enc_size),
            RECIPIENT_SEED,
            "document",
            DOCUMENT_ID,
        ),
        (
            "bit-flipped-in-tag",
            "bit 7 of the last byte (AEAD tag)",
            flip(doc, len(doc) - 1, 7),
            RECIPIENT_SEED,
            "document",
            DOCUMENT_ID,
        ),
        ("truncated", "last byte removed", doc[:-1], RECIPIENT_SEED, "document", DOCUMENT_ID),
    ]
    invalid = [
        {
            "id": name,
            "description": description,
            "recipient_seed": seed.hex(),
            "kind": kind,
            "subject_id": str(subject),
            "wrapped": wrapped.hex(),
            "reason": "wrapped-key",
        }
        for name, description, wrapped, seed, kind, subject in invalid_cases
    ]
    for vector in invalid:
        expect_failure("wrap", vector, _unwrap)
    return {
        **file_header("wrapped data key, docs/format.md section 3"),
        "note": "HPKE encryption is randomised: these vectors are checked in the decrypt "
        "direction only",
        "valid": valid,
        "invalid": invalid,
    }


def _unwrap(vector: dict[str, Any]) -> bytes:
    return _keys.unwrap_key(
        bytes.fromhex(vector["wrapped"]),
        _keys.PrivateKey(bytes.fromhex(vector["recipient_seed"])),
        kind=vector["kind"],
        subject_id=UUID(vector["subject_id"]),
        commitment=None,
    )


# -- writing -----------------------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return data


def build(previous: Path = HERE) -> dict[str, str]:
    """Every generated vector file's name and text; ``previous`` is where the wrapped keys to
    keep are read from (``wrap.json``)."""
    families: dict[str, Callable[[], dict[str, Any]]] = {
        "stream.json": stream_vectors,
        "wrap.json": lambda: wrap_vectors(_load(previous / "wrap.json")),
        "record.json": gen_records.record_vectors,
        "canonical.json": gen_canonical.canonical_vectors,
        "passphrase.json": gen_secrets.passphrase_vectors,
        "token.json": gen_secrets.token_vectors,
        "recovery.json": gen_recovery.recovery_vectors,
        "stream-v2.json": gen_v2.stream_v2_vectors,
        "wrap-v2.json": lambda: gen_v2.wrap_v2_vectors(_load(previous / "wrap-v2.json")),
    }
    return {name: render(make()) for name, make in families.items()}


def main() -> None:
    for name, text in build().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
