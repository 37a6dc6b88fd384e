"""What a document says about itself, and how a reader sees it.

Everything the uploader says about a document (title, filename, media type, notes, source
link) and what the vault measured (plaintext digest and size) is one record sealed under a key
derived from the document's data key; the rows in the clear say only ids, sizes and times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vault import document_record
from vault.audit import log as audit
from vault.document_record import MAX_NOTES, MAX_TITLE, DocumentMetadata, NewDocument
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


def metadata_binding(row: Document) -> bytes | None:
    """The clear columns of ``row`` its metadata record vouches for (``document_record``)."""
    return document_record.binding(
        case_id=row.case_id,
        uploader_id=row.uploader_id,
        created_at=row.created_at,
        key_commitment=row.key_commitment,
    )


def seal_metadata(data_key: bytes, row: Document, meta: DocumentMetadata) -> bytes:
    """``meta`` sealed for ``row`` (whose clear columns are set)."""
    return document_record.seal(data_key, meta, document_id=row.id, bound=metadata_binding(row))


def open_metadata(row: Document, data_key: bytes) -> DocumentMetadata:
    """The sealed record of ``row``, opened with its data key."""
    return document_record.open_sealed(
        data_key, row.sealed_metadata, document_id=row.id, bound=metadata_binding(row)
    )


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
