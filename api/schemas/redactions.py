"""Redactions and their review, withdrawals, suggestions, a document's text and exports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.body import Body, Line, NonBlankLine, NonBlankText, Text
from vault.services.redaction_records import MAX_COORDINATE

RedactionKind = Literal["span", "term", "region"]
RedactionCategory = Literal["source-identity", "third-party", "legal", "other"]


class _RedactionFields(Body):
    category: RedactionCategory
    note: Text | None = Field(default=None, max_length=2000)
    content_sha256: str | None = Field(
        default=None,
        pattern="^[0-9a-fA-F]{64}$",
        description="digest of the content this was made on; a mismatch is refused as stale",
    )


class SpanCreate(_RedactionFields):
    """A span of the document's text, in code points of ``GET /v1/documents/{id}/text``."""

    kind: Literal["span"]
    start: int = Field(ge=0, description="the first code point")
    end: int = Field(
        ge=1,
        description="one past the last code point: greater than start, at most the length of "
        "the document's text",
    )


class TermCreate(_RedactionFields):
    """Every occurrence of a term, ignoring case, accents and spacing."""

    kind: Literal["term"]
    term: NonBlankLine = Field(min_length=1, max_length=500)


class RegionCreate(_RedactionFields):
    """A rectangle on a page of a PDF, or on an image (page 1)."""

    kind: Literal["region"]
    page: int = Field(ge=1, description="the page, from 1")
    rect: list[Annotated[float, Field(ge=0, le=MAX_COORDINATE)]] = Field(
        min_length=4,
        max_length=4,
        description="x0, y0, x1, y1 with x0 < x1 and y0 < y1 (PDF points from the page's "
        "bottom-left corner; image pixels from the top-left); it must lie on the page or image",
    )


# One shape per kind, so that the schema says which fields go with which (the server refuses
# the others): a span, a term or a region, and nothing of the other two.
RedactionCreate = Annotated[SpanCreate | TermCreate | RegionCreate, Field(discriminator="kind")]


class WithdrawalPublic(BaseModel):
    status: Literal["proposed", "approved", "rejected"] = Field(
        description="the withdrawal's own review: approved means the redaction is withdrawn"
    )
    proposer: UUID
    note: str
    proposed_at: datetime
    reviewer: UUID | None
    review_note: str | None
    reviewed_at: datetime | None


class RedactionPublic(BaseModel):
    id: UUID
    document: UUID
    status: Literal["proposed", "approved", "rejected", "withdrawing", "withdrawn"] = Field(
        description="withdrawing: approved, with a withdrawal awaiting review (it still "
        "applies); withdrawn: no longer applies"
    )
    kind: RedactionKind
    category: RedactionCategory
    note: str | None
    start: int | None
    end: int | None
    term: str | None
    page: int | None
    rect: list[float] | None
    text: str = Field(description="what the redaction covers (span or region text, or the term)")
    content_sha256: str
    current: bool = Field(description="false when made on other content (stale)")
    proposer: UUID
    reviewer: UUID | None
    review_note: str | None
    created_at: datetime
    reviewed_at: datetime | None
    withdrawal: WithdrawalPublic | None = Field(
        default=None, description="the last request to withdraw it, and its review"
    )


class RedactionList(BaseModel):
    redactions: list[RedactionPublic]


class ReviewNote(Body):
    note: Text | None = Field(default=None, max_length=2000)


class RejectNote(Body):
    note: NonBlankText = Field(min_length=1, max_length=2000)


class WithdrawRequest(Body):
    note: NonBlankText = Field(
        min_length=1, max_length=2000, description="why it should no longer apply"
    )


class SuggestionPublic(BaseModel):
    start: int
    end: int
    category: RedactionCategory
    reason: str
    text: str


class SuggestionList(BaseModel):
    suggestions: list[SuggestionPublic]
    created: list[RedactionPublic]
    source_names_used: bool = Field(
        description="whether the source's recorded names were searched for (handler only)"
    )


class DocumentText(BaseModel):
    text: str
    sha256: str = Field(description="digest of the content the text was read from")
    ocr_pages: list[int] = Field(
        default_factory=list,
        description="pages without a text layer (scans, images): their text is what OCR read",
    )


class ExportRequest(Body):
    marker: Line = Field(default="[REDACTED]", min_length=1, max_length=40)
    per_category: bool = False
    keep_text_pages: bool = False


class ExportStored(BaseModel):
    document: UUID
    sha256: str
    log_index: int
    redactions: int
    pages_kept: list[int] = Field(
        default_factory=list, description="PDF pages kept as sanitised vector text"
    )
    pages_rendered_instead: dict[int, str] = Field(
        default_factory=dict,
        description="with keep_text_pages: pages re-rendered after all, and what they held",
    )
