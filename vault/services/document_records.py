"""What a document says about itself, and how a reader sees it.

Everything the uploader says about a document (title, filename, media type, notes, source
link) and what the vault measured (plaintext digest and size) is one record sealed under a key
derived from the document's data key; the rows in the clear say only ids, sizes and times.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from vault import canonical, crypto, freetext, mediatypes
from vault.audit import log as audit
from vault.errors import IntegrityError, InvalidInput
from vault.storage.models import Document

__all__ = [
    "MAX_NOTES",
    "MAX_TITLE",
    "DocumentInfo",
    "DocumentMetadata",
    "NewDocument",
    "document_info",
    "metadata_binding",
    "open_metadata",
    "seal_metadata",
]

_METADATA_LABEL = "document-metadata"
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


@dataclass(frozen=True)
class DocumentInfo:
    """A document as one reader sees it; ``metadata`` is ``None`` while their grant is pending."""

    id: UUID
    case_id: UUID
    uploader_id: UUID
    created_at: datetime
    ciphertext_size: int
    status: str
    metadata: DocumentMetadata | None
    # The access-log entry that recorded the upload, on the answer to an upload only: the
    # uploader's receipt, for which they can later ask an inclusion proof.
    receipt: audit.Receipt | None = None

    @property
    def pending(self) -> bool:
        return self.metadata is None


def _micros(at: datetime) -> bytes:
    """A UTC time as signed 64-bit big-endian microseconds since the Unix epoch."""
    return ((at - _EPOCH) // timedelta(microseconds=1)).to_bytes(8, "big", signed=True)


def metadata_binding(row: Document) -> bytes | None:
    """The clear columns the metadata record vouches for (docs/format.md §5.1): its case,
    uploader, upload time and key commitment, so that moving the document to another case or
    crediting another uploader makes the record refuse to open. ``None`` for a document
    stored before key commitments, whose record is bound to its id alone."""
    if row.key_commitment is None:
        return None
    return (
        _BOUND_DOCUMENT
        + row.case_id.bytes
        + row.uploader_id.bytes
        + _micros(row.created_at)
        + row.key_commitment
    )


def seal_metadata(data_key: bytes, row: Document, meta: DocumentMetadata) -> bytes:
    """``meta`` sealed for ``row`` (whose clear columns are set)."""
    return crypto.seal_record(
        data_key,
        meta.to_bytes(),
        label=_METADATA_LABEL,
        subject_id=row.id,
        bound=metadata_binding(row),
    )


def open_metadata(row: Document, data_key: bytes) -> DocumentMetadata:
    """The sealed record of ``row``, opened with its data key: ``IntegrityError`` naming the
    document if the record, or a clear column it vouches for, was changed."""
    try:
        raw = crypto.open_record(
            data_key,
            row.sealed_metadata,
            label=_METADATA_LABEL,
            subject_id=row.id,
            bound=metadata_binding(row),
        )
    except IntegrityError as exc:
        raise IntegrityError(
            f"document {row.id}: its metadata record does not match its row (case, uploader, "
            "time or key commitment changed outside the vault)",
            reason=exc.reason,
        ) from None
    return DocumentMetadata.from_bytes(raw)


def document_info(row: Document, meta: DocumentMetadata | None) -> DocumentInfo:
    """``row`` as a reader sees it, with its opened metadata (``None``: pending)."""
    return DocumentInfo(
        id=row.id,
        case_id=row.case_id,
        uploader_id=row.uploader_id,
        created_at=row.created_at,
        ciphertext_size=row.ciphertext_size,
        status=row.status,
        metadata=meta,
    )
