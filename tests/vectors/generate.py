"""Write the test vectors of ``docs/format.md`` (version 1) into ``tests/vectors/*.json``.

Run from the repository root, either way::

    .venv/bin/python -m tests.vectors.generate
    .venv/bin/python tests/vectors/generate.py

Every key, salt, nonce prefix, nonce and id below is fixed, and the content stream and sealed
records are deterministic in them, so ``stream.json`` and ``record.json`` come out byte for byte
the same on every run. HPKE wrapping draws a fresh encapsulation each time, so ``wrap.json``
cannot be regenerated identically: a wrapped key already in the file is kept as long as it still
opens to the expected data key, and a fresh one is made only for a vector that is new or no
longer opens (which means the format changed: bump the version).

The script goes through the private seams on purpose (``_stream.encrypt_segments`` with a given
salt and nonce prefix, ``_sealed.seal`` with a given nonce): the public functions draw those at
random.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from vault import crypto
from vault.crypto import _keys, _sealed, _stream
from vault.errors import IntegrityError
from vault.services.documents import DocumentMetadata

HERE = Path(__file__).resolve().parent
FORMAT_VERSION = _stream.VERSION

# -- fixed inputs ------------------------------------------------------------------------------

DATA_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
OTHER_DATA_KEY = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f0f1e2d3c4b5a69788796a5b4c3d2e1f0")
SALT = bytes.fromhex("5a17000000000000000000000000000000000000000000000000000000000001")
OTHER_SALT = bytes.fromhex("5a17000000000000000000000000000000000000000000000000000000000002")
NONCE_PREFIX = bytes.fromhex("4e4f4e4345f00d")
OTHER_NONCE_PREFIX = bytes.fromhex("4e4f4e4345f00e")
DOCUMENT_ID = UUID("2c5ea4c0-4067-11e9-8bad-9b1deb4d3b7d")
OTHER_DOCUMENT_ID = UUID("7d444840-9dc0-11d1-b245-5ffdce74fad2")

RECIPIENT_SEED = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf")
OTHER_RECIPIENT_SEED = bytes.fromhex(
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
)
WRAP_DATA_KEY = bytes.fromhex("d47a5e0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7")
SOURCE_ID = UUID("9b2f0c1e-3d4a-4b5c-8d6e-7f8091a2b3c4")

RECORD_NONCE = bytes.fromhex("0102030405060708090a0b0c")
OTHER_RECORD_NONCE = bytes.fromhex("f1f2f3f4f5f6f7f8f9fafbfc")

SMALL_SEGMENT = 64
LARGE_SEGMENT = 1024


def pattern(size: int) -> bytes:
    """The plaintext of every stream vector: byte ``i`` is ``i mod 251`` (a prime, so the
    pattern does not line up with any segment size)."""
    return bytes(i % 251 for i in range(size))


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
        )
    )


def segments(blob: bytes, segment_size: int) -> list[bytes]:
    """The sealed segments of a stream (its header removed)."""
    body = blob[_stream.HEADER_SIZE :]
    step = segment_size + _stream.TAG_SIZE
    return [body[i : i + step] for i in range(0, len(body), step)]


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


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
    header = good[: _stream.HEADER_SIZE]
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
            moved_header + good[_stream.HEADER_SIZE :],
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
            flip(good, _stream.HEADER_SIZE + len(s0) + 10, 7),
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
            "version byte (offset 4) set to 2",
            header[:4] + b"\x02" + good[5:],
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
        "format": "content stream, docs/format.md section 2",
        "version": FORMAT_VERSION,
        "generator": "tests/vectors/generate.py",
        "valid": valid,
        "invalid": invalid,
    }


def _valid_stream(name: str, size: int, segment_size: int) -> dict[str, Any]:
    plaintext = pattern(size)
    blob = encrypt(plaintext, segment_size=segment_size)
    check(len(blob) == _stream.ciphertext_size(size, segment_size), f"size of {name}")
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


def check(condition: bool, message: str) -> None:
    """Stop the script (even under ``python -O``) when a vector would be wrong."""
    if not condition:
        raise SystemExit(f"vector generation failed: {message}")


def expect_failure(
    family: str, vector: dict[str, Any], action: Callable[[dict[str, Any]], object]
) -> None:
    """Check that an invalid vector really fails, with the reason it records."""
    try:
        action(vector)
    except IntegrityError as exc:
        check(
            exc.reason == vector["reason"],
            f"{family} vector {vector['id']}: reason {exc.reason!r}, expected {vector['reason']!r}",
        )
    else:
        check(False, f"{family} vector {vector['id']} did not fail")


def _decrypt_stream(vector: dict[str, Any]) -> bytes:
    return b"".join(
        crypto.decrypt_stream(
            bytes.fromhex(vector["data_key"]),
            UUID(vector["document_id"]),
            [bytes.fromhex(vector["ciphertext"])],
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
                if _keys.unwrap_key(wrapped, recipient, kind=kind, subject_id=subject) == (
                    WRAP_DATA_KEY
                ):
                    return wrapped
            except IntegrityError:
                pass
        return _keys.wrap_key(WRAP_DATA_KEY, public, kind=kind, subject_id=subject)

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
        "format": "wrapped data key, docs/format.md section 3",
        "version": FORMAT_VERSION,
        "generator": "tests/vectors/generate.py",
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
    )


# -- record.json -------------------------------------------------------------------------------


def record_plaintexts() -> list[tuple[str, str, UUID, bytes]]:
    metadata = DocumentMetadata(
        title="Ministry budget memo, draft 3 — “annex B”",
        filename="memo-annex-b.pdf",
        media_type="application/pdf",
        notes="Received on paper; scanned by the desk.",
        source_id=SOURCE_ID,
        kind="memo",
        sha256=pattern(32).hex(),
        size=48213,
    ).to_bytes()
    minimal = DocumentMetadata(
        title="untitled",
        filename=None,
        media_type="application/octet-stream",
        notes=None,
        source_id=None,
        kind=None,
        sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        size=0,
    ).to_bytes()
    notes = "Dr. Łucja Żeleńska, ministry archive; Signal only, never call the office.".encode()
    return [
        ("document-metadata", "document-metadata", DOCUMENT_ID, metadata),
        ("document-metadata-minimal", "document-metadata", DOCUMENT_ID, minimal),
        ("source-notes", "source-notes", SOURCE_ID, notes),
        ("source-notes-empty", "source-notes", SOURCE_ID, b""),
    ]


def seal_record(
    data_key: bytes, label: str, subject: UUID, plaintext: bytes, nonce: bytes
) -> bytes:
    return _sealed.seal(
        crypto._record_key(data_key, label), plaintext, aad=subject.bytes, nonce=nonce
    )


def record_vectors() -> dict[str, Any]:
    valid = []
    for name, label, subject, plaintext in record_plaintexts():
        sealed = seal_record(DATA_KEY, label, subject, plaintext, RECORD_NONCE)
        opened = crypto.open_record(DATA_KEY, sealed, label=label, subject_id=subject)
        check(opened == plaintext, f"record vector {name} does not open")
        valid.append(
            {
                "id": name,
                "data_key": DATA_KEY.hex(),
                "label": label,
                "subject_id": str(subject),
                "nonce": RECORD_NONCE.hex(),
                "plaintext": plaintext.hex(),
                "plaintext_utf8": plaintext.decode("utf-8"),
                "sealed": sealed.hex(),
            }
        )

    meta = bytes.fromhex(valid[0]["sealed"])
    other_nonce = seal_record(
        DATA_KEY, "document-metadata", DOCUMENT_ID, record_plaintexts()[0][3], OTHER_RECORD_NONCE
    )
    invalid_cases: list[tuple[str, str, bytes, bytes, str, UUID]] = [
        (
            "other-subject",
            "a document's metadata opened for another document",
            meta,
            DATA_KEY,
            "document-metadata",
            OTHER_DOCUMENT_ID,
        ),
        (
            "other-label",
            "document metadata opened as source notes",
            meta,
            DATA_KEY,
            "source-notes",
            DOCUMENT_ID,
        ),
        (
            "other-data-key",
            "opened with another data key",
            meta,
            OTHER_DATA_KEY,
            "document-metadata",
            DOCUMENT_ID,
        ),
        (
            "bit-flipped-in-nonce",
            "bit 0 of nonce byte 0",
            flip(meta, 0),
            DATA_KEY,
            "document-metadata",
            DOCUMENT_ID,
        ),
        (
            "bit-flipped-in-ciphertext",
            "bit 4 of the first ciphertext byte",
            flip(meta, _sealed.NONCE_SIZE, 4),
            DATA_KEY,
            "document-metadata",
            DOCUMENT_ID,
        ),
        (
            "bit-flipped-in-tag",
            "bit 7 of the last byte",
            flip(meta, len(meta) - 1, 7),
            DATA_KEY,
            "document-metadata",
            DOCUMENT_ID,
        ),
        (
            "nonce-swapped",
            "ciphertext of one seal under the nonce of another",
            other_nonce[: _sealed.NONCE_SIZE] + meta[_sealed.NONCE_SIZE :],
            DATA_KEY,
            "document-metadata",
            DOCUMENT_ID,
        ),
        ("truncated", "last byte removed", meta[:-1], DATA_KEY, "document-metadata", DOCUMENT_ID),
        (
            "too-short",
            "27 bytes: shorter than nonce and tag",
            meta[:27],
            DATA_KEY,
            "document-metadata",
            DOCUMENT_ID,
        ),
        ("empty", "zero bytes", b"", DATA_KEY, "document-metadata", DOCUMENT_ID),
    ]
    invalid = [
        {
            "id": name,
            "description": description,
            "data_key": key.hex(),
            "label": label,
            "subject_id": str(subject),
            "sealed": sealed.hex(),
            "reason": "sealed-record",
        }
        for name, description, sealed, key, label, subject in invalid_cases
    ]
    for vector in invalid:
        expect_failure("record", vector, _open_record)
    return {
        "format": "sealed record, docs/format.md section 5",
        "version": FORMAT_VERSION,
        "generator": "tests/vectors/generate.py",
        "valid": valid,
        "invalid": invalid,
    }


def _open_record(vector: dict[str, Any]) -> bytes:
    return crypto.open_record(
        bytes.fromhex(vector["data_key"]),
        bytes.fromhex(vector["sealed"]),
        label=vector["label"],
        subject_id=UUID(vector["subject_id"]),
    )


# -- writing -----------------------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data


def write(path: Path, build: Callable[[], dict[str, Any]]) -> None:
    text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    write(HERE / "stream.json", stream_vectors)
    write(HERE / "wrap.json", lambda: wrap_vectors(_load(HERE / "wrap.json")))
    write(HERE / "record.json", record_vectors)


if __name__ == "__main__":
    main()
