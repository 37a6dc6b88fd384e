"""Sources: a pseudonym, a handler and identity notes sealed for the handler."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.body import Body, Line, Text


class SourceCreate(Body):
    case: UUID
    notes: Text | None = Field(default=None, max_length=65536)
    names: list[Annotated[Line, Field(min_length=2, max_length=200)]] = Field(
        default_factory=list,
        max_length=50,
        description="the source's names and aliases, for redaction suggestions (sealed)",
    )


class SourcePublic(BaseModel):
    id: UUID
    case: UUID
    pseudonym: str
    handler: UUID | None = Field(description="null once left to the recovery key alone")
    handover_pending: bool = Field(
        default=False, description="the handler's copy of the key waits for the recovery key"
    )
    has_identity_notes: bool
    created_at: datetime


class SourceList(BaseModel):
    sources: list[SourcePublic]


class SourceIdentity(BaseModel):
    id: UUID
    pseudonym: str
    notes: str | None
    names: list[str]


class HandoverRequest(Body):
    to: str = Field(min_length=1, max_length=64, description="an approved member's username")
    key_id: str | None = Field(
        default=None,
        max_length=64,
        description="end to end: the new handler's key id, as the access log holds it",
    )
    wrapped_key: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^[A-Za-z0-9+/]*={0,2}$",
        description="end to end: the source's key wrapped for that key (base64); only for a "
        "source with identity notes or names",
    )
