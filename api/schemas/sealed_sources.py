"""Sources recorded and revealed end to end: sealed records and wrapped keys, in base64."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.body import Body

_B64 = r"^[A-Za-z0-9+/]*={0,2}$"


class SealedSourceCreate(Body):
    case: UUID
    id: UUID = Field(description="a fresh random (version 4) id, sealed into the records")
    key_commitment: str = Field(pattern=_B64, max_length=64, description="base64, 32 bytes")
    sealed_notes: str | None = Field(
        default=None, pattern=_B64, max_length=131072, description="base64 (format §5.1)"
    )
    sealed_names: str | None = Field(
        default=None, pattern=_B64, max_length=131072, description="base64 (format §5.1)"
    )
    keys: dict[str, str] = Field(
        max_length=2,
        description="recipient key id -> the source key wrapped for it (base64): exactly your "
        "key and the recovery key; empty for a source without notes or names",
    )


class SourceKeyPublic(BaseModel):
    id: UUID
    case: UUID
    key_commitment: str | None
    recipient_key_id: str = Field(description="your key's id: the one `wrapped_key` is for")
    wrapped_key: str | None = Field(description="null when the source has no sealed record")


class SealedIdentityPublic(BaseModel):
    id: UUID
    case: UUID
    pseudonym: str
    key_commitment: str | None
    sealed_notes: str | None
    sealed_names: str | None
    recipient_key_id: str = Field(description="your key's id: the one `wrapped_key` is for")
    wrapped_key: str | None = Field(description="null when the source has no sealed record")
