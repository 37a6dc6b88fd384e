"""Cases: their retention and legal holds, members, approvals and handovers of sources."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from api.schemas.body import Body, NonBlankLine


class CaseCreate(Body):
    name: NonBlankLine = Field(min_length=1, max_length=120)


class RetentionPublic(BaseModel):
    days: int
    start: Literal["upload", "close"] = Field(
        description="`upload`: each document is due `days` after its upload; `close`: every "
        "document is due `days` after the case is closed (or after its upload, if later)"
    )


class CasePublic(BaseModel):
    id: UUID
    name: str
    created_at: datetime
    members: list[str] | None = None
    retention: RetentionPublic | None = Field(default=None, description="null: kept until deleted")
    closed_at: datetime | None = Field(default=None, description="null: the case is open")
    held_at: datetime | None = Field(
        default=None, description="since when the case is under legal hold; null: it is not"
    )


class CaseChanged(CasePublic):
    due_now: int = Field(
        description="documents of the case due and not held: the next retention run deletes them"
    )


class CaseUpdate(Body):
    """A change to a case; what is left out stays as it is."""

    retain_days: int | None = Field(
        default=None,
        ge=0,
        le=36_500,
        description="the retention period in days (at least 1 from the upload); null: none",
    )
    retain_from: Literal["upload", "close"] | None = Field(
        default=None, description="what the period counts from (with `retain_days`; `upload`)"
    )
    closed: bool | None = Field(default=None, description="true: close the case; false: reopen")

    @model_validator(mode="after")
    def _from_needs_days(self) -> CaseUpdate:
        if self.retain_from is not None and self.retain_days is None:
            raise ValueError("retain_from needs retain_days")
        return self


class HoldPublic(BaseModel):
    target: Literal["case", "document"]
    id: UUID
    held_at: datetime | None = Field(description="since when it is held; null: released")
    changed: bool = Field(description="false: it was in that state already")


class CaseList(BaseModel):
    cases: list[CasePublic]


class MemberRequest(Body):
    username: str = Field(min_length=1, max_length=64)


class MemberRemoval(Body):
    username: str = Field(min_length=1, max_length=64)
    sources_to: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="who takes the sources the member handles in the case: an approved "
        "member's username, or `recovery` to leave them to the recovery key alone; required "
        "when the member handles any",
    )


class SourceHandoverPublic(BaseModel):
    source: UUID
    pseudonym: str
    handler: str | None = Field(description="the new handler; null: the recovery key alone")
    awaiting_recovery: bool = Field(
        description="the new handler's copy of the key waits for the recovery key holders "
        "(`vault recover handovers`)"
    )


class RemovalPublic(BaseModel):
    username: str
    sources: list[SourceHandoverPublic]


class AwaitingMemberPublic(BaseModel):
    username: str
    added_by: str | None = Field(description="the administrator who added them")
    added_at: datetime
    enrolled: bool
    documents: int = Field(description="documents of the case an approval would open to them")


class AwaitingList(BaseModel):
    awaiting: list[AwaitingMemberPublic]


class ApprovalPublic(BaseModel):
    username: str
    keys_wrapped: int = Field(
        description="document keys wrapped for them at once with your key; the rest follow "
        "with other members' requests"
    )
