"""End-to-end uploads: whom to wrap for, and the receipt of a stored ciphertext."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class RecipientPublic(BaseModel):
    username: str
    user_id: UUID
    key_id: str = Field(description="check it with GET /v1/users/{username}/key before use")


class RecipientList(BaseModel):
    now: datetime = Field(description="the server's time: seal it in as the document's created_at")
    members: list[RecipientPublic] = Field(
        description="every current reader of the case's new documents, you among them"
    )
    recovery_key_id: str = Field(description="check it with GET /v1/recovery-key before use")


class SealedCreated(BaseModel):
    id: UUID
    case: UUID
    created_at: datetime
    ciphertext_size: int
    ciphertext_sha256: str = Field(description="SHA-256 of the stored ciphertext, hex")
    log_index: int = Field(description="index of the access-log entry that records this upload")
    log_entry: str = Field(description="the entry's canonical bytes (the Merkle leaf), base64")
