"""What a redaction record holds, how it is checked, and how it is sealed (docs/format.md §5.1,
§7): core format code, shared by the server (which seals and opens records in server-side
sessions) and by end-to-end clients (which seal and open them themselves).

A proposal says what to hide; the sealed record adds the digest of the content it was made on,
the text it covered, the review note and, once someone asks to stop applying it, the withdrawal
and its review. All of it is sealed under a key derived from the document's data key, bound to
the redaction's id and to the clear columns that decide what it does (``binding``), so the
database can neither read it nor move it to another redaction or state.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from vault import canonical, crypto, freetext
from vault.errors import IntegrityError, InvalidInput
from vault.redaction.model import Category, Kind, Rect, Status

__all__ = [
    "MAX_COORDINATE",
    "MAX_NOTE",
    "MAX_TERM",
    "Proposal",
    "SealedRedaction",
    "Withdrawal",
    "binding",
    "check_note",
    "check_rect",
    "open_sealed",
    "seal",
]

_LABEL = "redaction"
MAX_NOTE = 2000
MAX_TERM = 500
# Region coordinates are PDF points or image pixels from 0. A PDF page is at most 14400 points
# a side (ISO 32000 annex C) and a region must lie on its page; images are checked against
# their size. This bound, the largest JPEG side, keeps anything absurd (1e308 once broke every
# export of a document) from being stored at all.
MAX_COORDINATE = 65535.0


@dataclass(frozen=True)
class Proposal:
    """What an editor asks to redact. Exactly one of span (``start``/``end``), ``term`` or
    region (``page``/``rect``) is set, as ``kind`` says."""

    kind: Kind
    category: Category
    note: str | None = None
    start: int | None = None
    end: int | None = None
    term: str | None = None
    page: int | None = None
    rect: Rect | None = None

    def validate(self) -> None:
        """``InvalidInput`` unless the proposal is well formed (not yet checked against the
        document: a span's end against its text, a region against its page)."""
        shape = {
            Kind.SPAN: self.start is not None and self.end is not None,
            Kind.TERM: self.term is not None,
            Kind.REGION: self.page is not None and self.rect is not None,
        }
        others = {
            Kind.SPAN: (self.term, self.page, self.rect),
            Kind.TERM: (self.start, self.end, self.page, self.rect),
            Kind.REGION: (self.start, self.end, self.term),
        }
        if not shape[self.kind] or any(v is not None for v in others[self.kind]):
            raise InvalidInput(
                "give exactly one of: a span (start, end), a term, or a region (page, rect)"
            )
        if self.start is not None and self.end is not None and not 0 <= self.start < self.end:
            raise InvalidInput("a span needs 0 <= start < end")
        if self.term is not None and (not self.term.strip() or len(self.term) > MAX_TERM):
            raise InvalidInput(f"a term must be 1-{MAX_TERM} characters")
        freetext.check_line("a term", self.term)
        if self.page is not None and self.page < 1:
            raise InvalidInput("pages are numbered from 1")
        if self.rect is not None:
            check_rect(self.rect)
        check_note(self.note)


def check_rect(rect: Rect) -> None:
    """``InvalidInput`` unless every corner is a finite number from 0 to ``MAX_COORDINATE``."""
    corners = (rect.x0, rect.y0, rect.x1, rect.y1)
    if not all(math.isfinite(v) and 0 <= v <= MAX_COORDINATE for v in corners):
        raise InvalidInput(
            f"a region's coordinates are numbers from 0 to {MAX_COORDINATE:g} that lie on the "
            "page or image"
        )


def check_note(note: str | None) -> None:
    """``InvalidInput`` for a note too long or holding control characters (not line breaks)."""
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput(f"a note must be at most {MAX_NOTE} characters")
    freetext.check_text("a note", note)


@dataclass(frozen=True)
class Withdrawal:
    """A request to stop applying an approved redaction, and its review (four eyes, like the
    redaction's own approval). ``status`` is the request's: proposed, approved or rejected."""

    proposer_id: UUID
    note: str
    proposed_at: datetime
    status: Status = Status.PROPOSED
    reviewer_id: UUID | None = None
    review_note: str | None = None
    reviewed_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposer": str(self.proposer_id),
            "note": self.note,
            "proposed_at": self.proposed_at.isoformat(),
            "status": self.status.value,
            "reviewer": str(self.reviewer_id) if self.reviewer_id else None,
            "review_note": self.review_note,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Withdrawal:
        return cls(
            proposer_id=UUID(d["proposer"]),
            note=d["note"],
            proposed_at=datetime.fromisoformat(d["proposed_at"]),
            status=Status(d["status"]),
            reviewer_id=UUID(d["reviewer"]) if d["reviewer"] else None,
            review_note=d["review_note"],
            reviewed_at=datetime.fromisoformat(d["reviewed_at"]) if d["reviewed_at"] else None,
        )


@dataclass(frozen=True)
class SealedRedaction:
    """The sealed part of a redaction record."""

    proposal: Proposal
    content_sha256: str
    text: str
    review_note: str | None = None
    withdrawal: Withdrawal | None = None

    def to_bytes(self) -> bytes:
        p = self.proposal
        data: dict[str, Any] = {
            "kind": p.kind.value,
            "category": p.category.value,
            "note": p.note,
            "start": p.start,
            "end": p.end,
            "term": p.term,
            "page": p.page,
            # Always floats: a coordinate given as an integer is written 2.0, not 2, so that
            # the bytes do not depend on how the caller spelled it (docs/format.md §7).
            "rect": [float(v) for v in (p.rect.x0, p.rect.y0, p.rect.x1, p.rect.y1)]
            if p.rect
            else None,
            "content_sha256": self.content_sha256,
            "text": self.text,
            "review_note": self.review_note,
        }
        if self.withdrawal is not None:  # records without one keep their old bytes
            data["withdrawal"] = self.withdrawal.to_dict()
        return canonical.dumps(data)

    @classmethod
    def from_bytes(cls, raw: bytes) -> SealedRedaction:
        d = json.loads(raw)
        proposal = Proposal(
            kind=Kind(d["kind"]),
            category=Category(d["category"]),
            note=d["note"],
            start=d["start"],
            end=d["end"],
            term=d["term"],
            page=d["page"],
            rect=Rect(*d["rect"]) if d["rect"] else None,
        )
        withdrawal = Withdrawal.from_dict(d["withdrawal"]) if d.get("withdrawal") else None
        return cls(proposal, d["content_sha256"], d["text"], d["review_note"], withdrawal)


_BOUND = b"source-vault/v2 redaction\x00"
_NOBODY = bytes(16)


def binding(
    *, document_id: UUID, proposer_id: UUID, reviewer_id: UUID | None, status: str
) -> bytes:
    """The clear columns a redaction record vouches for: its document, proposer, reviewer and
    status. Turning an approved redaction into a rejected or withdrawn one, or crediting
    another proposer or reviewer (the four-eyes rule is checked on them), makes the record
    refuse to open; only a holder of the document's key can seal a new state."""
    reviewer = reviewer_id.bytes if reviewer_id is not None else _NOBODY
    return _BOUND + document_id.bytes + proposer_id.bytes + reviewer + status.encode("ascii")


def seal(data_key: bytes, redaction_id: UUID, bound: bytes, sealed: SealedRedaction) -> bytes:
    """``sealed`` as the record of redaction ``redaction_id`` in the state ``bound`` says."""
    return crypto.seal_record(
        data_key, sealed.to_bytes(), label=_LABEL, subject_id=redaction_id, bound=bound
    )


def open_sealed(data_key: bytes, redaction_id: UUID, bound: bytes, box: bytes) -> SealedRedaction:
    """The record ``box`` of redaction ``redaction_id``: ``IntegrityError`` naming the
    redaction if it, or a clear column it vouches for, was changed outside the vault."""
    try:
        raw = crypto.open_record(data_key, box, label=_LABEL, subject_id=redaction_id, bound=bound)
    except IntegrityError:
        try:
            # Sealed before records were bound to their columns (bound to the id alone): such
            # a record opens, and its row's seal (vault.services.row_seals) covers the columns.
            raw = crypto.open_record(data_key, box, label=_LABEL, subject_id=redaction_id)
        except IntegrityError:
            raise IntegrityError(
                f"redaction {redaction_id}: its sealed record does not match its row (status, "
                "proposer or reviewer changed outside the vault)",
                reason="sealed-record",
            ) from None
    return SealedRedaction.from_bytes(raw)
