"""What every redaction operation shares: the records as callers see them, reaching a document
(editors of its case only), reading its content, updating and logging a record in one
transaction, and the checks an export makes on the records it applies.

``vault.services.redactions`` builds the operations on it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import Conflict, IntegrityError, InvalidInput, LimitExceeded, NotFound
from vault.redaction import export, pdf, suggest
from vault.redaction.model import Status
from vault.redaction.proposals import check_on_page, target, usable
from vault.services.document_records import (
    MAX_TITLE,
    DocumentInfo,
    DocumentMetadata,
    NewDocument,
    open_metadata,
)
from vault.services.documents import DocumentService
from vault.services.redaction_records import (
    Proposal,
    SealedRedaction,
    Withdrawal,
    check_note,
    seal,
    unseal,
)
from vault.services.uow import UnitOfWork, Work
from vault.services.users import Actor
from vault.storage.models import Document, Redaction, Role

__all__ = [
    "Opened",
    "RedactionCore",
    "RedactionInfo",
    "Released",
    "Suggestions",
    "TextReading",
    "applying",
    "check_on_page",
    "derived_document",
    "pending_withdrawal",
    "required_note",
    "target",
    "unseal_row",
    "usable",
    "witnessed",
]

_R = TypeVar("_R")
_P = ParamSpec("_P")
_S = TypeVar("_S", bound="RedactionCore")


def witnessed(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """A proposal or decision, then a signed and pinned checkpoint of the log that holds its
    entry (``RedactionCore._witness``), once the decision has committed."""

    @functools.wraps(method)
    def run(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        result = method(self, *args, **kwargs)
        if self._witness is not None:
            self._witness()
        return result

    return run


# What a review says when the redaction is not in the state the review is for.
_NOT_EXPECTED = {
    Status.PROPOSED: "this redaction is already {status}",
    Status.APPROVED: "only an approved redaction can be withdrawn; this one is {status}",
    Status.WITHDRAWING: "this redaction has no withdrawal to review (it is {status})",
}
# C0, DEL and C1: never carried from a title into a derived one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class RedactionInfo:
    id: UUID
    document_id: UUID
    status: Status
    proposer_id: UUID
    reviewer_id: UUID | None
    created_at: datetime
    reviewed_at: datetime | None
    proposal: Proposal
    content_sha256: str
    # The text the redaction covers (a span's or region's text, or the term): sensitive, shown
    # only to the editors who review it.
    text: str
    review_note: str | None
    # Whether it was made on the document's current content; a stale one cannot be approved
    # or applied.
    current: bool
    # The last request to withdraw it (approved ones only), with its review.
    withdrawal: Withdrawal | None = None


@dataclass(frozen=True)
class TextReading:
    text: str
    sha256: str
    ocr_pages: list[int]  # pages without a text layer, whose text is what OCR read on them


@dataclass(frozen=True)
class Suggestions:
    items: list[suggest.Suggestion]
    created: list[RedactionInfo]
    # Whether the source's recorded names were searched for: only their handler can read them.
    source_names_used: bool


@dataclass(frozen=True)
class Released:
    content: bytes
    media_type: str
    sha256: str
    filename: str
    log_index: int
    redactions: int
    stored: DocumentInfo | None = None
    # PDFs: pages kept as sanitised vector text, and pages re-rendered although keeping them
    # was asked for, with what the sanitiser could not rebuild (structural words, no content).
    kept: list[int] = field(default_factory=list)
    unsafe: dict[int, str] = field(default_factory=dict)


@dataclass
class Opened:
    """A document reached by an editor: its row, its data key and its opened metadata."""

    row: Document
    data_key: bytes
    meta: DocumentMetadata


class RedactionCore:
    """The shared ground of the redaction operations (``RedactionService``)."""

    def __init__(
        self,
        *,
        engine: Engine,
        documents: DocumentService,
        clock: Clock,
        self_approval: bool = False,
        max_export_bytes: int = 256 << 20,
        dpi: int = 200,
        recognisers: Sequence[suggest.Recogniser] = (),
        pin_path: Path | None = None,
        witness: Callable[[], object] | None = None,
    ) -> None:
        self._engine = engine
        self._uow = UnitOfWork(engine, clock)
        # The access log is the witness of every decision (vault.services.redaction_ledger):
        # ``witness`` signs and pins a checkpoint after each, and exports check the log against
        # the checkpoint pinned at ``pin_path``.
        self._pin_path = pin_path
        self._witness = witness
        self._documents = documents
        self._clock = clock
        self._self_approval = self_approval
        self._max_export_bytes = max_export_bytes
        self._dpi = dpi
        self._recognisers = tuple(recognisers)
        # The PDF renderer, replaceable so that tests can prove the verification pass catches a
        # renderer that leaves text behind.
        self.render_pdf: export.PdfRenderer = pdf.render

    # -- access --------------------------------------------------------------------------------

    def _open(self, db: Session, actor: Actor, document_id: UUID) -> Opened:
        # Redactions are editors' work: to anyone else they do not exist, like the document.
        if actor.role not in (Role.EDITOR, Role.ADMIN):
            raise NotFound("no such document")
        row, data_key = self._documents.readable(db, actor, document_id)
        return Opened(row, data_key, open_metadata(row, data_key))

    def _content(self, opened: Opened) -> bytes:
        """The whole plaintext, in memory (never a temporary file), checked against the digest
        the redactions are bound to."""
        if opened.meta.size > self._max_export_bytes:
            raise LimitExceeded(
                f"the document is larger than the export limit of {self._max_export_bytes} bytes"
            )
        _, chunks = self._documents.stream_for(opened.row, opened.data_key)
        content = b"".join(chunks)
        if hashlib.sha256(content).hexdigest() != opened.meta.sha256:
            raise IntegrityError(
                "the document's content does not match its record", reason="digest"
            )
        return content

    @staticmethod
    def _about(work: Work, opened: Opened, *, redaction: UUID | None = None) -> None:
        """The unit's entry is about the opened document (and ``redaction``)."""
        work.add(document=opened.row.id, case=opened.row.case_id)
        if redaction is not None:
            work.add(redaction=redaction)

    def _rows(self, db: Session, document_id: UUID) -> list[Redaction]:
        stmt = (
            select(Redaction)
            .where(Redaction.document_id == document_id)
            .order_by(col(Redaction.created_at), col(Redaction.id))
        )
        return list(db.exec(stmt))

    # -- reviewing -----------------------------------------------------------------------------

    def _reviewable(
        self, work: Work, actor: Actor, redaction_id: UUID, expected: Status = Status.PROPOSED
    ) -> tuple[Redaction, Opened]:
        """The redaction, in ``expected`` state, and its document opened for ``actor``. Read
        under the appenders' lock: of two decisions on one redaction (from two replicas, or
        two threads of one), the second sees the first's outcome and is refused."""
        work.lock()
        db = work.db
        row = db.get(Redaction, redaction_id, populate_existing=True)
        if row is None:
            raise NotFound("no such redaction")
        try:
            opened = self._open(db, actor, row.document_id)
        except NotFound:
            raise NotFound("no such redaction") from None
        if row.status != expected:
            raise Conflict(_NOT_EXPECTED[expected].format(status=row.status))
        return row, opened

    def _store(
        self,
        work: Work,
        row: Redaction,
        opened: Opened,
        sealed: SealedRedaction,
        status: Status,
        extra: dict[str, str] | None,
    ) -> RedactionInfo:
        """Give ``row`` its new status and sealed record in ``work``, whose entry is about it."""
        row.status = status.value
        row.sealed = seal(opened.data_key, row, sealed)
        work.db.add(row)
        self._about(work, opened, redaction=row.id)
        work.add(extra=extra)
        return self._info(row, opened)

    def _log_export(self, actor: Actor, opened: Opened, outcome: str, extra: dict[str, str]) -> int:
        return self._uow.record(
            actor,
            Action.DOCUMENT_EXPORT,
            outcome=outcome,
            extra=extra,
            document=opened.row.id,
            case=opened.row.case_id,
        )

    def _info(self, row: Redaction, opened: Opened) -> RedactionInfo:
        sealed = unseal_row(opened.data_key, row)
        return RedactionInfo(
            id=row.id,
            document_id=row.document_id,
            status=Status(row.status),
            proposer_id=row.proposer_id,
            reviewer_id=row.reviewer_id,
            created_at=row.created_at,
            reviewed_at=row.reviewed_at,
            proposal=sealed.proposal,
            content_sha256=sealed.content_sha256,
            text=sealed.text,
            review_note=sealed.review_note,
            current=sealed.content_sha256 == opened.meta.sha256,
            withdrawal=sealed.withdrawal,
        )


def unseal_row(data_key: bytes, row: Redaction) -> SealedRedaction:
    """The sealed record of ``row``, opened (``IntegrityError`` if it does not open)."""
    return unseal(data_key, row)


def applying(data_key: bytes, rows: Sequence[Redaction]) -> list[tuple[Redaction, SealedRedaction]]:
    """The redactions an export applies (approved, a withdrawal pending or not), each with its
    record. A row marked withdrawn is left out only if its sealed record says a second editor
    approved the withdrawal: a status changed in the database alone leaves nothing out."""
    found: list[tuple[Redaction, SealedRedaction]] = []
    for row in rows:
        if row.status in (Status.APPROVED, Status.WITHDRAWING):
            found.append((row, unseal_row(data_key, row)))
        elif row.status == Status.WITHDRAWN:
            withdrawal = unseal_row(data_key, row).withdrawal
            if withdrawal is None or withdrawal.status is not Status.APPROVED:
                raise IntegrityError(
                    f"redaction {row.id} is marked withdrawn but its record says otherwise",
                    reason="record-state",
                )
    return found


def derived_document(title: str, original: UUID) -> NewDocument:
    """The stored redacted copy's description, checked: the original's title, without control
    characters and shortened to leave room for " (redacted)"."""
    suffix = " (redacted)"
    title = " ".join(_CONTROL.sub(" ", title).split())
    room = MAX_TITLE - len(suffix)
    if len(title) > room:
        title = title[: room - 1] + "…"
    draft = NewDocument(title=f"{title}{suffix}", kind="redacted-export", derived_from=original)
    draft.validate()
    return draft


def required_note(note: str, missing: str) -> str:
    """``note`` stripped and checked; ``InvalidInput`` saying ``missing`` if it is blank."""
    note = note.strip()
    if not note:
        raise InvalidInput(missing)
    check_note(note)
    return note


def pending_withdrawal(sealed: SealedRedaction, row: Redaction) -> Withdrawal:
    """The withdrawal a row's status says is pending, from the sealed record that must hold
    it: the clear status alone does not decide what an export leaves out."""
    if sealed.withdrawal is None or sealed.withdrawal.status is not Status.PROPOSED:
        raise IntegrityError(
            f"redaction {row.id}: its record holds no pending withdrawal", reason="record-state"
        )
    return sealed.withdrawal
