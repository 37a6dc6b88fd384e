"""Redactions: propose, review (four eyes), suggest, and export a verified redacted derivative.

A redaction is bound to the SHA-256 of the plaintext it was made on; one made on other content
is stale and can neither be approved nor applied. What it hides (its span, term or region, the
text under it), its category and its notes are sealed under a key derived from the document's
data key, like the document's own metadata: the rows in the clear say only which document, who
proposed, who reviewed, when, and the status. Only editors (and administrators) who are members
of the document's case work with redactions; to anyone else a document's redactions do not exist.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit import log as audit
from vault.clock import Clock
from vault.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    RedactionLeak,
)
from vault.redaction import export, pdf, suggest
from vault.redaction.model import Category, Kind, Rect, Status
from vault.services.documents import (
    DocumentInfo,
    DocumentMetadata,
    DocumentService,
    NewDocument,
    open_metadata,
)
from vault.services.sources import read_names
from vault.services.users import Actor
from vault.storage.models import Document, Redaction, Role, Source

__all__ = [
    "Proposal",
    "RedactionInfo",
    "RedactionService",
    "Released",
    "Suggestions",
    "TextReading",
]

_LABEL = "redaction"
MAX_NOTE = 2000
MAX_TERM = 500


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
        if self.term is not None and (
            not self.term.strip() or len(self.term) > MAX_TERM or "\x00" in self.term
        ):
            raise InvalidInput(f"a term must be 1-{MAX_TERM} characters")
        if self.page is not None and self.page < 1:
            raise InvalidInput("pages are numbered from 1")
        _check_note(self.note)


def _check_note(note: str | None) -> None:
    if note is not None and (len(note) > MAX_NOTE or "\x00" in note):
        raise InvalidInput(f"a note must be at most {MAX_NOTE} characters")


@dataclass(frozen=True)
class _Sealed:
    """The sealed part of a redaction record."""

    proposal: Proposal
    content_sha256: str
    text: str
    review_note: str | None = None

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
            "rect": [p.rect.x0, p.rect.y0, p.rect.x1, p.rect.y1] if p.rect else None,
            "content_sha256": self.content_sha256,
            "text": self.text,
            "review_note": self.review_note,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> _Sealed:
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
        return cls(proposal, d["content_sha256"], d["text"], d["review_note"])


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
class _Opened:
    row: Document
    data_key: bytes
    meta: DocumentMetadata


class RedactionService:
    """Redaction operations, each checking the actor's reach itself."""

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
    ) -> None:
        self._engine = engine
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

    def _open(self, db: Session, actor: Actor, document_id: UUID) -> _Opened:
        # Redactions are editors' work: to anyone else they do not exist, like the document.
        if actor.role not in (Role.EDITOR, Role.ADMIN):
            raise NotFound("no such document")
        row, data_key = self._documents.readable(db, actor, document_id)
        return _Opened(row, data_key, open_metadata(row, data_key))

    def _content(self, opened: _Opened) -> bytes:
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

    # -- proposing -----------------------------------------------------------------------------

    def propose(
        self,
        actor: Actor,
        document_id: UUID,
        proposal: Proposal,
        *,
        content_sha256: str | None = None,
    ) -> RedactionInfo:
        """Record a proposed redaction. ``content_sha256``, if given, is the digest of the
        content the proposer looked at: if the document's differs, the proposal is stale."""
        proposal.validate()
        with Session(self._engine, expire_on_commit=False) as db:
            opened = self._open(db, actor, document_id)
            export.format_of(opened.meta.media_type)
            if content_sha256 is not None and content_sha256.lower() != opened.meta.sha256:
                raise Conflict("stale: the document's content is not the one this was made on")
            covered = self._check(opened, proposal)
            row = self._insert(db, actor, opened, proposal, covered)
            self._log(db, actor, opened, "redaction.propose", redaction=row.id)
            audit.commit(db)
            return self._info(row, opened)

    def _check(self, opened: _Opened, proposal: Proposal) -> str:
        """What ``proposal`` covers, once checked against the document. A term needs nothing
        of the content (it may match nowhere yet), so the document is decrypted only for spans
        and regions."""
        media_type = opened.meta.media_type
        target = _target("new", proposal, "")
        if proposal.kind is Kind.TERM:
            return target.needle()  # images too: their text is what OCR reads in them
        content = self._content(opened)
        doc_text = None
        if proposal.kind is Kind.SPAN:
            doc_text = export.document_text(content, media_type)
        return export.check_target(content, media_type, target, doc_text)

    def _insert(
        self, db: Session, actor: Actor, opened: _Opened, proposal: Proposal, covered: str
    ) -> Redaction:
        rid = uuid4()
        sealed = _Sealed(proposal, opened.meta.sha256, covered)
        row = Redaction(
            id=rid,
            document_id=opened.row.id,
            status=Status.PROPOSED.value,
            proposer_id=actor.user_id,
            sealed=_seal(opened.data_key, rid, sealed),
            created_at=self._clock(),
        )
        db.add(row)
        return row

    def of_document(self, actor: Actor, document_id: UUID) -> list[RedactionInfo]:
        with Session(self._engine, expire_on_commit=False) as db:
            opened = self._open(db, actor, document_id)
            rows = self._rows(db, document_id)
            self._log(db, actor, opened, "redaction.list")
            audit.commit(db)
            return [self._info(row, opened) for row in rows]

    def _log(
        self,
        db: Session,
        actor: Actor,
        opened: _Opened,
        action: str,
        extra: dict[str, str] | None = None,
        redaction: UUID | None = None,
    ) -> None:
        """Record ``action`` on the opened document (and ``redaction``) in ``db``'s
        transaction."""
        doc, case = opened.row.id, opened.row.case_id
        if redaction is None:
            audit.record(
                db, action, actor.user_id, clock=self._clock, extra=extra, document=doc, case=case
            )
        else:
            audit.record(
                db,
                action,
                actor.user_id,
                clock=self._clock,
                extra=extra,
                redaction=redaction,
                document=doc,
                case=case,
            )

    def _rows(self, db: Session, document_id: UUID) -> list[Redaction]:
        stmt = (
            select(Redaction)
            .where(Redaction.document_id == document_id)
            .order_by(col(Redaction.created_at), col(Redaction.id))
        )
        return list(db.exec(stmt))

    # -- reviewing -----------------------------------------------------------------------------

    def _reviewable(
        self, db: Session, actor: Actor, redaction_id: UUID
    ) -> tuple[Redaction, _Opened]:
        row = db.get(Redaction, redaction_id)
        if row is None:
            raise NotFound("no such redaction")
        try:
            opened = self._open(db, actor, row.document_id)
        except NotFound:
            raise NotFound("no such redaction") from None
        if row.status != Status.PROPOSED:
            raise Conflict(f"this redaction is already {row.status}")
        return row, opened

    def approve(
        self, actor: Actor, redaction_id: UUID, *, note: str | None = None
    ) -> RedactionInfo:
        """Approve a proposed redaction: by another editor than its proposer (unless the vault
        allows self-approval, which the access log then records)."""
        _check_note(note)
        with Session(self._engine, expire_on_commit=False) as db:
            row, opened = self._reviewable(db, actor, redaction_id)
            sealed = _unseal(opened.data_key, row)
            if sealed.content_sha256 != opened.meta.sha256:
                raise Conflict("stale: this redaction was made on other content")
            own = row.proposer_id == actor.user_id
            if own and not self._self_approval:
                raise Conflict("a redaction must be approved by another editor than its proposer")
            extra = {"self_approved": "true"} if own else None
            return self._review(db, actor, row, opened, sealed, Status.APPROVED, note, extra)

    def reject(self, actor: Actor, redaction_id: UUID, *, note: str) -> RedactionInfo:
        """Reject a proposed redaction, saying why (any editor of the case, its proposer too)."""
        note = note.strip()
        if not note:
            raise InvalidInput("a rejection needs a note saying why")
        _check_note(note)
        with Session(self._engine, expire_on_commit=False) as db:
            row, opened = self._reviewable(db, actor, redaction_id)
            sealed = _unseal(opened.data_key, row)
            return self._review(db, actor, row, opened, sealed, Status.REJECTED, note, None)

    def _review(
        self,
        db: Session,
        actor: Actor,
        row: Redaction,
        opened: _Opened,
        sealed: _Sealed,
        status: Status,
        note: str | None,
        extra: dict[str, str] | None,
    ) -> RedactionInfo:
        row.status = status.value
        row.reviewer_id = actor.user_id
        row.reviewed_at = self._clock()
        row.sealed = _seal(opened.data_key, row.id, replace(sealed, review_note=note))
        db.add(row)
        action = "redaction.approve" if status is Status.APPROVED else "redaction.reject"
        self._log(db, actor, opened, action, extra, redaction=row.id)
        audit.commit(db)
        return self._info(row, opened)

    # -- suggesting ----------------------------------------------------------------------------

    def suggest(self, actor: Actor, document_id: UUID, *, accept_all: bool = False) -> Suggestions:
        """Spans worth redacting: contact details, handles, ID-like numbers, and the recorded
        names and aliases of the document's source when the actor is its handler. With
        ``accept_all`` each becomes a proposed span redaction."""
        with Session(self._engine, expire_on_commit=False) as db:
            opened = self._open(db, actor, document_id)
            content = self._content(opened)
            doc_text = export.document_text(content, opened.meta.media_type)
            names, used = self._source_names(db, actor, opened.meta.source_id)
            items = suggest.suggest(doc_text, names=names, recognisers=self._recognisers)
            created: list[Redaction] = []
            if accept_all:
                for item in items:
                    proposal = Proposal(Kind.SPAN, item.category, start=item.start, end=item.end)
                    created.append(self._insert(db, actor, opened, proposal, item.text))
            self._log(db, actor, opened, "redaction.suggest", extra={"proposed": str(len(created))})
            audit.commit(db)
            return Suggestions(items, [self._info(r, opened) for r in created], used)

    def _source_names(
        self, db: Session, actor: Actor, source_id: UUID | None
    ) -> tuple[list[str], bool]:
        if source_id is None:
            return [], False
        source = db.get(Source, source_id)
        if source is None or source.handler_id != actor.user_id:
            return [], False
        return read_names(db, actor, source_id), True

    # -- reading the text ----------------------------------------------------------------------

    def text(self, actor: Actor, document_id: UUID) -> TextReading:
        """The document's text as span offsets count it, the content digest it is of, and the
        pages whose text OCR read (scans and images)."""
        with Session(self._engine, expire_on_commit=False) as db:
            opened = self._open(db, actor, document_id)
            content = self._content(opened)
            doc_text, ocr_pages = export.read_text(content, opened.meta.media_type)
            self._log(db, actor, opened, "document.content.read")
            audit.commit(db)
            return TextReading(doc_text, opened.meta.sha256, ocr_pages)

    # -- exporting -----------------------------------------------------------------------------

    def export(
        self,
        actor: Actor,
        document_id: UUID,
        options: export.ExportOptions | None = None,
        *,
        store: bool = False,
    ) -> Released:
        """The redacted derivative, after the independent check; refused while any redaction is
        proposed or stale. Logged with the digest of what was released (or, when the check
        fails, the refusal). With ``store`` it is also kept as a new document of the case."""
        options = options or export.ExportOptions(dpi=self._dpi)
        with Session(self._engine, expire_on_commit=False) as db:
            opened = self._open(db, actor, document_id)
            export.format_of(opened.meta.media_type)
            rows = self._rows(db, document_id)
            pending = [str(r.id) for r in rows if r.status == Status.PROPOSED]
            if pending:
                raise Conflict(
                    f"{len(pending)} redaction(s) still proposed: " + ", ".join(pending)
                ).with_details(redactions=pending)
            approved = [
                (r, _unseal(opened.data_key, r)) for r in rows if r.status == Status.APPROVED
            ]
            stale = [str(r.id) for r, s in approved if s.content_sha256 != opened.meta.sha256]
            if stale:
                raise Conflict(
                    f"{len(stale)} redaction(s) were made on other content: " + ", ".join(stale)
                ).with_details(redactions=stale)
            targets = [_target(str(r.id), s.proposal, s.text) for r, s in approved]
            content = self._content(opened)
        try:
            result = export.produce(
                content, opened.meta.media_type, targets, options, render_pdf=self.render_pdf
            )
        except IntegrityError as exc:
            extra = {"reason": exc.reason}
            if isinstance(exc, RedactionLeak):
                # Which reader found what class of thing on which page: never the text.
                extra["found"] = ",".join(exc.places)
            self._log_export(actor, opened, "refused", extra)
            raise
        filename = f"redacted-{str(document_id)[:8]}.{result.extension}"
        index = self._log_export(
            actor,
            opened,
            "ok",
            {
                "sha256": result.sha256,
                "redactions": str(len(targets)),
                "unchecked": str(len(result.unchecked)),
                "pages_rendered": str(len(result.pictures)),
                "pages_kept": str(len(result.kept)),
            },
        )
        stored = None
        if store:
            stored = self._documents.add(
                actor,
                case_id=opened.row.case_id,
                content=iter([result.content]),
                document=NewDocument(
                    title=f"{opened.meta.title} (redacted)",
                    filename=filename,
                    media_type=result.media_type,
                    kind="redacted-export",
                    derived_from=document_id,
                ),
            )
        return Released(
            result.content,
            result.media_type,
            result.sha256,
            filename,
            index,
            len(targets),
            stored,
            kept=result.kept,
            unsafe=result.unsafe,
        )

    def _log_export(
        self, actor: Actor, opened: _Opened, outcome: str, extra: dict[str, str]
    ) -> int:
        with Session(self._engine) as db:
            index = audit.record(
                db,
                "document.export",
                actor.user_id,
                clock=self._clock,
                outcome=outcome,
                extra=extra,
                document=opened.row.id,
                case=opened.row.case_id,
            )
            audit.commit(db)
            return index

    def _info(self, row: Redaction, opened: _Opened) -> RedactionInfo:
        sealed = _unseal(opened.data_key, row)
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
        )


def _target(key: str, proposal: Proposal, covered: str) -> export.Target:
    return export.Target(
        key=key,
        kind=proposal.kind,
        category=proposal.category,
        start=proposal.start,
        end=proposal.end,
        term=proposal.term,
        page=proposal.page,
        rect=proposal.rect,
        text=covered or None,
    )


def _seal(data_key: bytes, redaction_id: UUID, sealed: _Sealed) -> bytes:
    return crypto.seal_record(data_key, sealed.to_bytes(), label=_LABEL, subject_id=redaction_id)


def _unseal(data_key: bytes, row: Redaction) -> _Sealed:
    raw = crypto.open_record(data_key, row.sealed, label=_LABEL, subject_id=row.id)
    return _Sealed.from_bytes(raw)
