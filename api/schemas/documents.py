"""Documents: the upload's receipt, metadata and listings."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class DocumentCreated(BaseModel):
    id: UUID
    size: int
    sha256: str
    case: UUID
    created_at: datetime
    log_index: int = Field(
        description="index of the access-log entry that records this upload: with log_entry a "
        "receipt, for which GET /v1/audit/proof/inclusion proves inclusion in a signed checkpoint"
    )
    log_entry: str = Field(description="the entry's canonical bytes (the Merkle leaf), base64")


class DocumentPublic(BaseModel):
    id: UUID
    case: UUID
    uploader: UUID
    created_at: datetime
    pending: bool = Field(description="true until a case member grants this reader the key")
    title: str | None = None
    filename: str | None = None
    media_type: str | None = None
    kind: str | None = None
    notes: str | None = None
    source: UUID | None = None
    size: int | None = None
    sha256: str | None = None
    derived_from: UUID | None = Field(
        default=None, description="for a stored redacted export: the original it was made from"
    )


class DocumentList(BaseModel):
    documents: list[DocumentPublic]
    next_cursor: str | None = None
