"""Users' public keys, with what a client needs to check them against the access log."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field


class UserKey(BaseModel):
    username: str
    user_id: UUID
    enabled: bool = Field(description="false: the account is disabled; encrypt nothing to it")
    public_key: str = Field(description="base64: ML-KEM-768 encapsulation key, then X25519")
    key_id: str = Field(description="SHA-256 of the key with its label (docs/format.md §3)")
    index: int = Field(description="the access-log entry that gives the user this key")
    entry: str = Field(description="that entry's canonical bytes, base64")
    checkpoint: str = Field(description="a signed checkpoint whose tree holds the entry")
    inclusion: list[str] = Field(description="RFC 9162 inclusion proof of the entry, base64")
    consistency: list[str] = Field(
        description="with `since`: RFC 9162 consistency proof from the tree of size `since` to "
        "the checkpoint's (empty when they are the same size)"
    )
