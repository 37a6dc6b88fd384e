"""A document's sealed metadata record (docs/format.md §5.1): what an uploader may say in it
(``NewDocument``), what it holds, what it is bound to, and how it is sealed and opened. Core
format code, shared by the server (which seals and, for server-side sessions, opens it) and by
end-to-end clients (which seal and open it themselves)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from vault import canonical, crypto, freetext, mediatypes
from vault.errors import IntegrityError, InvalidInput

__all__ = [
    "MAX_NOTES",
    "MAX_TITLE",
    "DocumentMetadata",
    "NewDocument",
    "binding",
    "open_sealed",
    "seal",
]

LABEL = "document-metadata"
_BOUND_DOCUMENT = b"source-vault/v2 document\x00"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


MAX_TITLE = 500
MAX_NOTES = 64 * 1024


@dataclass(frozen=True)
class NewDocument:
    """What the uploader says about a document; all of it is stored sealed."""

    title: str
    filename: str | None = None
    media_type: str = "application/octet-stream"
    notes: str | None = None
    source_id: UUID | None = None
    kind: str | None = None
    derived_from: UUID | None = None

    def validate(self) -> None:
        if not self.title.strip() or len(self.title) > MAX_TITLE:
            raise InvalidInput(f"title must be 1-{MAX_TITLE} characters")
        if self.notes is not None and len(self.notes) > MAX_NOTES:
            raise InvalidInput(f"notes must be at most {MAX_NOTES} characters")
        if self.filename is not None and len(self.filename) > 1024:
            raise InvalidInput("filename is too long")
        if self.kind is not None and len(self.kind) > 64:
            raise InvalidInput("kind must be at most 64 characters")
        mediatypes.normalise(self.media_type)
        freetext.check_line("title", self.title)
        freetext.check_line("kind", self.kind)
        freetext.check_text("notes", self.notes)
        texts = (self.title, self.filename, self.media_type, self.notes, self.kind)
        if any(t is not None and "\x00" in t for t in texts):
            raise InvalidInput("text fields must not contain NUL characters")


@dataclass(frozen=True)
class DocumentMetadata:
    """The sealed record, as a reader sees it once opened."""

    title: str
    filename: str | None
    media_type: str
    notes: str | None
    source_id: UUID | None
    kind: str | None
    sha256: str
    size: int
    # The original a redacted export was made from: sealed like the rest, so the link between
    # a shareable version and its source document is visible to readers only.
    derived_from: UUID | None = None

    def to_bytes(self) -> bytes:
        data = asdict(self)
        for name in _UUID_FIELDS:
            data[name] = str(data[name]) if data[name] else None
        return canonical.dumps(data)

    @classmethod
    def from_bytes(cls, raw: bytes) -> DocumentMetadata:
        data = json.loads(raw)
        for name in _UUID_FIELDS:
            # Records sealed before a field existed simply lack it.
            data[name] = UUID(data[name]) if data.get(name) else None
        return cls(**data)


_UUID_FIELDS = ("source_id", "derived_from")


def _micros(at: datetime) -> bytes:
    """A UTC time as signed 64-bit big-endian microseconds since the Unix epoch."""
    return ((at - _EPOCH) // timedelta(microseconds=1)).to_bytes(8, "big", signed=True)


def binding(
    *, case_id: UUID, uploader_id: UUID, created_at: datetime, key_commitment: bytes | None
) -> bytes | None:
    """The clear columns the record vouches for: its case, uploader, upload time and key
    commitment, so that moving the document to another case or crediting another uploader
    makes the record refuse to open. ``None`` for a document stored before key commitments,
    whose record is bound to its id alone."""
    if key_commitment is None:
        return None
    return (
        _BOUND_DOCUMENT + case_id.bytes + uploader_id.bytes + _micros(created_at) + key_commitment
    )


def seal(
    data_key: bytes, meta: DocumentMetadata, *, document_id: UUID, bound: bytes | None
) -> bytes:
    return crypto.seal_record(
        data_key, meta.to_bytes(), label=LABEL, subject_id=document_id, bound=bound
    )


def open_sealed(
    data_key: bytes, sealed: bytes, *, document_id: UUID, bound: bytes | None
) -> DocumentMetadata:
    """The record, opened: ``IntegrityError`` naming the document if the record, or a clear
    column it vouches for, was changed."""
    try:
        raw = crypto.open_record(data_key, sealed, label=LABEL, subject_id=document_id, bound=bound)
    except IntegrityError as exc:
        raise IntegrityError(
            f"document {document_id}: its metadata record does not match its row (case, "
            "uploader, time or key commitment changed outside the vault)",
            reason=exc.reason,
        ) from None
    return DocumentMetadata.from_bytes(raw)
