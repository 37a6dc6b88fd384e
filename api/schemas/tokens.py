"""API tokens: what a token is made with, and what is shown of it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.body import Body, NonBlankLine


class TokenCreate(Body):
    name: NonBlankLine = Field(min_length=1, max_length=100)
    scopes: list[Literal["upload", "read"]] = Field(min_length=1)
    expires_in: int = Field(default=30 * 86400, ge=60, description="lifetime in seconds")


class TokenPublic(BaseModel):
    id: UUID
    name: str | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime


class TokenCreated(TokenPublic):
    token: str = Field(description="shown once; store it now")


class TokenList(BaseModel):
    tokens: list[TokenPublic]
