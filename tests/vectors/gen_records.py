"""``record.json``: sealed records (docs/format.md §5) and the JSON they hold (§7).

The plaintexts come from the writers the services call (``DocumentMetadata.to_bytes``,
``SealedRedaction.to_bytes``, the source-names rule), and the boxes from ``vault.crypto``'s
``seal_record`` with its nonce fixed by ``_sealed.fixed_nonces``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from tests.vectors.common import (
    DOCUMENT_ID,
    NONCE,
    OTHER_DOCUMENT_ID,
    OTHER_NONCE,
    OTHER_USER_ID,
    REDACTION_ID,
    SOURCE_ID,
    USER_ID,
    check,
    expect_failure,
    flip,
    header,
    pattern,
)
from vault import canonical, crypto
from vault.crypto import _sealed
from vault.redaction.model import Category, Kind, Rect, Status
from vault.services.document_records import DocumentMetadata
from vault.services.redaction_records import Proposal, SealedRedaction, Withdrawal

DATA_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
OTHER_DATA_KEY = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f0f1e2d3c4b5a69788796a5b4c3d2e1f0")

FULL_METADATA = DocumentMetadata(
    title="Ministry budget memo, draft 3 — “annex B”",
    filename="memo-annex-b.pdf",
    media_type="application/pdf",
    notes='Received on paper; scanned by the desk.\n\tPage 2: "see \\\\share\\budget" 📎',
    source_id=SOURCE_ID,
    kind="memo",
    sha256=pattern(32).hex(),
    size=48213,
    derived_from=OTHER_DOCUMENT_ID,
)
MINIMAL_METADATA = DocumentMetadata(
    title="untitled",
    filename=None,
    media_type="application/octet-stream",
    notes=None,
    source_id=None,
    kind=None,
    sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    size=0,
)
LOG_NAME = "vault.example.org/audit"
LOG_SEED = bytes.fromhex("e0" * 16 + "e1" * 16)
SOURCE_NAMES = ["Łucja Żeleńska", "Lucja Zelenska", "“the archivist”"]
_WHEN = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)


def source_names_bytes(names: list[str]) -> bytes:
    """The source-names plaintext as ``vault.services.sources`` writes it: ``json.dumps`` with
    its defaults (``", "`` between items, non-ASCII escaped); checked against the service by
    ``tests/vault/test_vectors_records.py``."""
    return json.dumps(names).encode()


def _redactions() -> list[tuple[str, SealedRedaction]]:
    span = Proposal(Kind.SPAN, Category.SOURCE_IDENTITY, note=None, start=120, end=134)
    term = Proposal(Kind.TERM, Category.THIRD_PARTY, note="spouse\u2019s name", term="Żeleńska")
    # Coordinates that different JSON writers spell differently: 1e-07, -0.0, 0.1, and 2 given
    # as an integer (written 2.0).
    region = Proposal(Kind.REGION, Category.LEGAL, note=None, page=3, rect=Rect(1e-7, -0.0, 0.1, 2))
    withdrawal = Withdrawal(
        proposer_id=USER_ID,
        note="covered by the published court record",
        proposed_at=_WHEN,
        status=Status.APPROVED,
        reviewer_id=OTHER_USER_ID,
        review_note=None,
        reviewed_at=_WHEN.replace(hour=11),
    )
    digest = pattern(32).hex()
    return [
        ("redaction-span", SealedRedaction(span, digest, "Łucja Żeleńska", review_note="ok")),
        ("redaction-term", SealedRedaction(term, digest, "Żeleńska")),
        ("redaction-region", SealedRedaction(region, digest, "")),
        ("redaction-withdrawn", SealedRedaction(span, digest, "Łucja Żeleńska", None, withdrawal)),
    ]


def record_plaintexts() -> list[tuple[str, str, UUID, bytes, bool]]:
    """(id, label, subject, plaintext, whether today's writer makes it)."""
    legacy = json.loads(FULL_METADATA.to_bytes())
    del legacy["derived_from"]
    notes = "Dr. Łucja Żeleńska, ministry archive; Signal only, never call the office.".encode()
    out = [
        ("document-metadata", "document-metadata", DOCUMENT_ID, FULL_METADATA.to_bytes(), True),
        (
            "document-metadata-minimal",
            "document-metadata",
            DOCUMENT_ID,
            MINIMAL_METADATA.to_bytes(),
            True,
        ),
        # Sealed before derived_from existed: eight members, still read (as derived_from null).
        (
            "document-metadata-eight-members",
            "document-metadata",
            DOCUMENT_ID,
            canonical.dumps(legacy),
            False,
        ),
        ("source-notes", "source-notes", SOURCE_ID, notes, True),
        ("source-notes-empty", "source-notes", SOURCE_ID, b"", True),
        ("source-names", "source-names", SOURCE_ID, source_names_bytes(SOURCE_NAMES), True),
    ]
    # The access log's signing key: its data key is log-seal.key, its subject a name-based UUID
    # of the log's name (docs/audit-log.md, "Stored bytes").
    log_subject = uuid5(NAMESPACE_URL, LOG_NAME)
    out.append(("log-signing-key", "log-signing-key", log_subject, LOG_SEED, True))
    out += [
        (name, "redaction", REDACTION_ID, record.to_bytes(), True) for name, record in _redactions()
    ]
    return out


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def seal(data_key: bytes, label: str, subject: UUID, plaintext: bytes, nonce: bytes) -> bytes:
    with _sealed.fixed_nonces(nonce):
        return crypto.seal_record(data_key, plaintext, label=label, subject_id=subject)


def record_vectors() -> dict[str, Any]:
    valid = []
    for name, label, subject, plaintext, written in record_plaintexts():
        sealed = seal(DATA_KEY, label, subject, plaintext, NONCE)
        opened = crypto.open_record(DATA_KEY, sealed, label=label, subject_id=subject)
        check(opened == plaintext, f"record vector {name} does not open")
        if label == "document-metadata":
            check(DocumentMetadata.from_bytes(plaintext).title != "", f"{name} does not read")
        if label == "redaction":
            again = SealedRedaction.from_bytes(plaintext).to_bytes()
            check(again == plaintext, f"{name} does not read back to its bytes")
        valid.append(
            {
                "id": name,
                "data_key": DATA_KEY.hex(),
                "label": label,
                "subject_id": str(subject),
                "nonce": NONCE.hex(),
                "plaintext": plaintext.hex(),
                "plaintext_utf8": _text(plaintext),
                "sealed": sealed.hex(),
                "written_today": written,
            }
        )

    meta = bytes.fromhex(valid[0]["sealed"])
    other_nonce = seal(
        DATA_KEY, "document-metadata", DOCUMENT_ID, FULL_METADATA.to_bytes(), OTHER_NONCE
    )
    n = _sealed.NONCE_SIZE
    invalid_cases: list[tuple[str, str, bytes, bytes, str, UUID]] = [
        ("other-subject", "a document's metadata opened for another document", meta, DATA_KEY,
         "document-metadata", OTHER_DOCUMENT_ID),
        ("other-label", "document metadata opened as source notes", meta, DATA_KEY,
         "source-notes", DOCUMENT_ID),
        ("other-data-key", "opened with another data key", meta, OTHER_DATA_KEY,
         "document-metadata", DOCUMENT_ID),
        ("bit-flipped-in-nonce", "bit 0 of nonce byte 0", flip(meta, 0), DATA_KEY,
         "document-metadata", DOCUMENT_ID),
        ("bit-flipped-in-ciphertext", "bit 4 of the first ciphertext byte", flip(meta, n, 4),
         DATA_KEY, "document-metadata", DOCUMENT_ID),
        ("bit-flipped-in-tag", "bit 7 of the last byte", flip(meta, len(meta) - 1, 7), DATA_KEY,
         "document-metadata", DOCUMENT_ID),
        ("nonce-swapped", "ciphertext of one seal under the nonce of another",
         other_nonce[:n] + meta[n:], DATA_KEY, "document-metadata", DOCUMENT_ID),
        ("truncated", "last byte removed", meta[:-1], DATA_KEY, "document-metadata",
         DOCUMENT_ID),
        ("too-short", "27 bytes: shorter than nonce and tag", meta[:27], DATA_KEY,
         "document-metadata", DOCUMENT_ID),
        ("empty", "zero bytes", b"", DATA_KEY, "document-metadata", DOCUMENT_ID),
    ]  # fmt: skip
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
    return {**header("sealed record, docs/format.md section 5"), "valid": valid, "invalid": invalid}


def _open_record(vector: dict[str, Any]) -> bytes:
    return crypto.open_record(
        bytes.fromhex(vector["data_key"]),
        bytes.fromhex(vector["sealed"]),
        label=vector["label"],
        subject_id=UUID(vector["subject_id"]),
    )
