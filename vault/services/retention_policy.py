"""When a document is due for deletion under its case's retention period.

A case's retention is a number of days and what it counts from (``RetentionStart``):

- from the upload: each document is due that many days after it was stored;
- from the closing: nothing is due while the case is open; once it is closed, each document is
  due that many days (0 allowed) after the closing, or after its own upload if it was stored
  after the closing. Reopening the case stops the clock, closing it again restarts it.

A legal hold on the case or on the document does not change when it is due; it stops the
deletion (``vault.services.shredding.shred`` refuses it). Due documents under hold are reported
as held, so that an operator sees what the hold keeps.

This module decides and reads; it deletes nothing (``vault.services.retention`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlmodel import Session, col, select

from vault.errors import InvalidInput
from vault.storage.models import Case, Document, RetentionStart

__all__ = ["MAX_RETAIN_DAYS", "Due", "due_at", "due_documents", "validate_retention"]

# A century: longer is a typo, and a period past datetime's range cannot be computed.
MAX_RETAIN_DAYS = 36_500


@dataclass(frozen=True)
class Due:
    """A document whose retention period is over. ``held`` names what holds it (``"case"`` or
    ``"document"``), or is ``None`` if nothing does and it goes at the next run."""

    document_id: UUID
    case_id: UUID
    case_name: str
    uploaded_at: datetime
    due_at: datetime
    held: str | None


def validate_retention(days: int, start: RetentionStart) -> None:
    """Refuse a period that is out of range. Counting from the upload, 0 days would delete
    every document at the next run after it is stored: at least 1 day."""
    low = 1 if start == RetentionStart.UPLOAD else 0
    if not low <= days <= MAX_RETAIN_DAYS:
        raise InvalidInput(f"retention from the {start.value} must be {low}-{MAX_RETAIN_DAYS} days")


def due_at(case: Case, uploaded_at: datetime) -> datetime | None:
    """When a document of ``case`` stored at ``uploaded_at`` is due, or ``None`` (never, as
    things stand: no retention, or counted from a closing that has not happened)."""
    if case.retain_days is None or case.retain_from is None:
        return None
    period = timedelta(days=case.retain_days)
    if case.retain_from == RetentionStart.UPLOAD:
        return uploaded_at + period
    if case.closed_at is None:
        return None
    return max(case.closed_at, uploaded_at) + period


def _cutoff(case: Case, now: datetime) -> datetime | None:
    """The latest upload time that can be due at ``now``: for both kinds of period, a document
    is due only if it was stored at least the period ago (a closing adds a second condition)."""
    if case.retain_days is None or case.retain_from is None:
        return None
    period = timedelta(days=case.retain_days)
    if case.retain_from == RetentionStart.CLOSE and (
        case.closed_at is None or case.closed_at + period > now
    ):
        return None
    return now - period


def due_documents(db: Session, now: datetime, *, case_id: UUID | None = None) -> list[Due]:
    """Every document due at ``now`` (of ``case_id`` only, if given), in due order: one indexed
    query per case that has a retention period, reading ids and times only."""
    cases = select(Case).where(col(Case.retain_days).is_not(None))
    if case_id is not None:
        cases = cases.where(col(Case.id) == case_id)
    found: list[Due] = []
    for case in db.exec(cases).all():
        cutoff = _cutoff(case, now)
        if cutoff is None:
            continue
        rows = db.exec(
            select(Document.id, Document.created_at, Document.held_at)
            .where(col(Document.case_id) == case.id)
            .where(col(Document.created_at) <= cutoff)
        ).all()
        for doc_id, uploaded_at, held_at in rows:
            when = due_at(case, uploaded_at)
            if when is None or when > now:
                continue
            held = "case" if case.held_at is not None else None
            if held is None and held_at is not None:
                held = "document"
            found.append(Due(doc_id, case.id, case.name, uploaded_at, when, held))
    found.sort(key=lambda d: (d.due_at, str(d.document_id)))
    return found
