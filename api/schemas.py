"""Request and response bodies. Table models never leave the service layer: these are what the
API promises, and the OpenAPI document is generated from them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vault.freetext import (
    LINE_PATTERN,
    NONBLANK_LINE_PATTERN,
    NONBLANK_TEXT_PATTERN,
    TEXT_PATTERN,
)
from vault.services.redaction_records import MAX_COORDINATE

# Free text, as vault.freetext rules it: one line or many, without control characters; and
# not blank where the services strip a value and refuse it when nothing is left. The patterns
# are in the OpenAPI document, so that it says what the server enforces.
Line = Annotated[str, Field(pattern=LINE_PATTERN)]
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]
NonBlankLine = Annotated[str, Field(pattern=NONBLANK_LINE_PATTERN)]
NonBlankText = Annotated[str, Field(pattern=NONBLANK_TEXT_PATTERN)]


class _Body(BaseModel):
    # Python's JSON parser reads Infinity and NaN; no field here means them, and an answer
    # that echoed one could not be written as JSON.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _no_nul(self) -> _Body:
        # PostgreSQL text cannot hold NUL, and no legitimate name or note contains one.
        for name, value in self:
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{name} contains a NUL character")
        return self


class UserPublic(BaseModel):
    id: UUID
    username: str
    role: Literal["admin", "editor", "journalist"]


class EnrollRequest(_Body):
    username: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)
    passphrase: str = Field(min_length=1, max_length=1024)


class EnrollResponse(BaseModel):
    active: bool
    totp_uri: str | None = Field(
        default=None, description="otpauth:// URI to add to an authenticator app"
    )


class ConfirmRequest(_Body):
    username: str = Field(min_length=1, max_length=64)
    passphrase: str = Field(min_length=1, max_length=1024)
    otp: str = Field(min_length=1, max_length=16)


class LoginRequest(_Body):
    username: str = Field(min_length=1, max_length=64)
    passphrase: str = Field(min_length=1, max_length=1024)
    otp: str | None = Field(default=None, max_length=16)
    device_token: str | None = Field(
        default=None,
        max_length=100,
        description="the device_token of this account's last login from this device: the "
        "attempt is then throttled per device instead of per client address",
    )
    rotate_key: bool = Field(
        default=False,
        description="make a new key pair first: every key the old one held is re-wrapped for "
        "it, the old one is destroyed, and every other session and token ends",
    )


class PassphraseChange(_Body):
    current_passphrase: str = Field(min_length=1, max_length=1024)
    new_passphrase: str = Field(min_length=1, max_length=1024)


class PassphraseChanged(BaseModel):
    sessions_ended: int = Field(description="your other sessions, ended (API tokens stay)")


class LoginResponse(BaseModel):
    token: str
    expires_at: datetime
    user: UserPublic
    device_token: str = Field(
        description="show it at the next login from this device (it replaces the one shown)"
    )


class TokenCreate(_Body):
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


class CaseCreate(_Body):
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


class CaseUpdate(_Body):
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


class MemberRequest(_Body):
    username: str = Field(min_length=1, max_length=64)


class MemberRemoval(_Body):
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


class HandoverRequest(_Body):
    to: str = Field(min_length=1, max_length=64, description="an approved member's username")


class SourceCreate(_Body):
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


class Health(BaseModel):
    status: Literal["ok"]


RedactionKind = Literal["span", "term", "region"]
RedactionCategory = Literal["source-identity", "third-party", "legal", "other"]


class _RedactionFields(_Body):
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


class ReviewNote(_Body):
    note: Text | None = Field(default=None, max_length=2000)


class RejectNote(_Body):
    note: NonBlankText = Field(min_length=1, max_length=2000)


class WithdrawRequest(_Body):
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


class ExportRequest(_Body):
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
