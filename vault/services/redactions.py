"""Redactions: propose, review (four eyes), suggest, and export a verified redacted derivative.

A redaction is bound to the SHA-256 of the plaintext it was made on; one made on other content
is stale and can neither be approved nor applied. What it hides (its span, term or region, the
text under it), its category and its notes are sealed under a key derived from the document's
data key, like the document's own metadata: the rows in the clear say only which document, who
proposed, who reviewed, when, and the status. Only editors (and administrators) who are members
of the document's case work with redactions; to anyone else a document's redactions do not exist.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID, uuid4

from sqlmodel import Session

from vault.audit.actions import Action
from vault.errors import Conflict, IntegrityError, RedactionLeak
from vault.redaction import export, proposals, suggest
from vault.redaction.model import Kind, Status
from vault.services.redaction_core import (
    Opened,
    RedactionCore,
    RedactionInfo,
    Released,
    Suggestions,
    TextReading,
    applying,
    derived_document,
    pending_withdrawal,
    required_note,
    target,
    unseal_row,
    usable,
    witnessed,
)
from vault.services.redaction_ledger import check_redactions
from vault.services.redaction_records import (
    Proposal,
    SealedRedaction,
    Withdrawal,
    check_note,
    seal,
)
from vault.services.sources import read_names
from vault.services.uow import Work
from vault.services.users import Actor
from vault.storage.models import Redaction, Source

__all__ = [
    "Proposal",
    "RedactionInfo",
    "RedactionService",
    "Released",
    "Suggestions",
    "TextReading",
]


class RedactionService(RedactionCore):
    """Redaction operations, each checking the actor's reach itself."""

    # -- proposing -----------------------------------------------------------------------------

    @witnessed
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
        with self._uow.audited(actor, Action.REDACTION_PROPOSE) as work:
            opened = self._open(work.db, actor, document_id)
            export.format_of(opened.meta.media_type)
            if content_sha256 is not None and content_sha256.lower() != opened.meta.sha256:
                raise Conflict("stale: the document's content is not the one this was made on")
            covered = self._check(opened, proposal)
            row = self._insert(work.db, actor, opened, proposal, covered)
            self._about(work, opened, redaction=row.id)
        return self._info(row, opened)

    def _check(self, opened: Opened, proposal: Proposal) -> str:
        """What ``proposal`` covers, once checked against the document
        (``vault.redaction.proposals``)."""
        return proposals.covered(proposal, opened.meta.media_type, lambda: self._content(opened))

    def _insert(
        self, db: Session, actor: Actor, opened: Opened, proposal: Proposal, covered: str
    ) -> Redaction:
        rid = uuid4()
        sealed = SealedRedaction(proposal, opened.meta.sha256, covered)
        row = Redaction(
            id=rid,
            document_id=opened.row.id,
            status=Status.PROPOSED.value,
            proposer_id=actor.user_id,
            sealed=b"",
            created_at=self._clock(),
        )
        row.sealed = seal(opened.data_key, row, sealed)
        db.add(row)
        return row

    def of_document(self, actor: Actor, document_id: UUID) -> list[RedactionInfo]:
        with self._uow.audited(actor, Action.REDACTION_LIST) as work:
            opened = self._open(work.db, actor, document_id)
            rows = self._rows(work.db, document_id)
            self._about(work, opened)
        return [self._info(row, opened) for row in rows]

    # -- reviewing -----------------------------------------------------------------------------

    @witnessed
    def approve(
        self, actor: Actor, redaction_id: UUID, *, note: str | None = None
    ) -> RedactionInfo:
        """Approve a proposed redaction: by another editor than its proposer (unless the vault
        allows self-approval, which the access log then records)."""
        check_note(note)
        with self._uow.audited(actor, Action.REDACTION_APPROVE) as work:
            row, opened = self._reviewable(work, actor, redaction_id)
            sealed = unseal_row(opened.data_key, row)
            if sealed.content_sha256 != opened.meta.sha256:
                raise Conflict("stale: this redaction was made on other content")
            if not usable(sealed.proposal):
                raise Conflict(
                    "this region's coordinates lie on no page (stored before they were "
                    "checked): reject it, and propose it again"
                )
            own = row.proposer_id == actor.user_id
            if own and not self._self_approval:
                raise Conflict("a redaction must be approved by another editor than its proposer")
            extra = {"self_approved": "true"} if own else None
            return self._review(work, actor, row, opened, sealed, Status.APPROVED, note, extra)

    @witnessed
    def reject(self, actor: Actor, redaction_id: UUID, *, note: str) -> RedactionInfo:
        """Reject a proposed redaction, saying why (any editor of the case, its proposer too)."""
        note = required_note(note, "a rejection needs a note saying why")
        with self._uow.audited(actor, Action.REDACTION_REJECT) as work:
            row, opened = self._reviewable(work, actor, redaction_id)
            sealed = unseal_row(opened.data_key, row)
            return self._review(work, actor, row, opened, sealed, Status.REJECTED, note, None)

    def _review(
        self,
        work: Work,
        actor: Actor,
        row: Redaction,
        opened: Opened,
        sealed: SealedRedaction,
        status: Status,
        note: str | None,
        extra: dict[str, str] | None,
    ) -> RedactionInfo:
        row.reviewer_id = actor.user_id
        row.reviewed_at = self._clock()
        updated = replace(sealed, review_note=note)
        return self._store(work, row, opened, updated, status, extra)

    # -- withdrawing ---------------------------------------------------------------------------
    # An approved redaction cannot be rejected, and one that should not apply (a region with
    # absurd coordinates that breaks every export, a term that hides too much) needs a way
    # out that keeps four eyes: one editor asks, another approves, and until then it applies.

    @witnessed
    def withdraw(self, actor: Actor, redaction_id: UUID, *, note: str) -> RedactionInfo:
        """Ask to withdraw an approved redaction, saying why (any editor of the case). It still
        applies until another editor approves the withdrawal."""
        note = required_note(note, "a withdrawal needs a note saying why")
        with self._uow.audited(actor, Action.REDACTION_WITHDRAW) as work:
            row, opened = self._reviewable(work, actor, redaction_id, Status.APPROVED)
            asked = Withdrawal(actor.user_id, note, self._clock())
            sealed = replace(unseal_row(opened.data_key, row), withdrawal=asked)
            return self._store(work, row, opened, sealed, Status.WITHDRAWING, None)

    @witnessed
    def approve_withdrawal(
        self, actor: Actor, redaction_id: UUID, *, note: str | None = None
    ) -> RedactionInfo:
        """Approve a withdrawal: by another editor than the one who asked for it (unless the
        vault allows self-approval, which the access log then records). The redaction no longer
        applies to exports."""
        check_note(note)
        with self._uow.audited(actor, Action.REDACTION_WITHDRAW_APPROVE) as work:
            row, opened = self._reviewable(work, actor, redaction_id, Status.WITHDRAWING)
            sealed = unseal_row(opened.data_key, row)
            asked = pending_withdrawal(sealed, row)
            own = asked.proposer_id == actor.user_id
            if own and not self._self_approval:
                raise Conflict(
                    "a withdrawal must be approved by another editor than the one who asked"
                )
            reviewed = replace(
                asked,
                status=Status.APPROVED,
                reviewer_id=actor.user_id,
                review_note=note,
                reviewed_at=self._clock(),
            )
            return self._store(
                work,
                row,
                opened,
                replace(sealed, withdrawal=reviewed),
                Status.WITHDRAWN,
                {"self_approved": "true"} if own else None,
            )

    @witnessed
    def reject_withdrawal(self, actor: Actor, redaction_id: UUID, *, note: str) -> RedactionInfo:
        """Reject a withdrawal, saying why (any editor of the case): the redaction stays
        approved."""
        note = required_note(note, "a rejection needs a note saying why")
        with self._uow.audited(actor, Action.REDACTION_WITHDRAW_REJECT) as work:
            row, opened = self._reviewable(work, actor, redaction_id, Status.WITHDRAWING)
            sealed = unseal_row(opened.data_key, row)
            reviewed = replace(
                pending_withdrawal(sealed, row),
                status=Status.REJECTED,
                reviewer_id=actor.user_id,
                review_note=note,
                reviewed_at=self._clock(),
            )
            return self._store(
                work, row, opened, replace(sealed, withdrawal=reviewed), Status.APPROVED, None
            )

    # -- suggesting ----------------------------------------------------------------------------

    @witnessed
    def suggest(self, actor: Actor, document_id: UUID, *, accept_all: bool = False) -> Suggestions:
        """Spans worth redacting: contact details, handles, ID-like numbers, and the recorded
        names and aliases of the document's source when the actor is its handler. With
        ``accept_all`` each becomes a proposed span redaction."""
        with self._uow.audited(actor, Action.REDACTION_SUGGEST) as work:
            opened = self._open(work.db, actor, document_id)
            content = self._content(opened)
            doc_text = export.document_text(content, opened.meta.media_type)
            names, used = self._source_names(work.db, actor, opened.meta.source_id)
            items = suggest.suggest(doc_text, names=names, recognisers=self._recognisers)
            created: list[Redaction] = []
            if accept_all:
                for item in items:
                    proposal = Proposal(Kind.SPAN, item.category, start=item.start, end=item.end)
                    row = self._insert(work.db, actor, opened, proposal, item.text)
                    created.append(row)
                    # Each proposal is its own entry, as if proposed by hand: the export
                    # checks the document's redactions against the log, one by one.
                    work.record(
                        Action.REDACTION_PROPOSE,
                        document=opened.row.id,
                        case=opened.row.case_id,
                        redaction=row.id,
                    )
            self._about(work, opened)
            work.add(extra={"proposed": str(len(created))})
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
        with self._uow.audited(actor, Action.DOCUMENT_CONTENT_READ) as work:
            opened = self._open(work.db, actor, document_id)
            content = self._content(opened)
            doc_text, ocr_pages = export.read_text(content, opened.meta.media_type)
            self._about(work, opened)
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
        with self._uow.read() as db:
            opened = self._open(db, actor, document_id)
            export.format_of(opened.meta.media_type)
            # Everything that could refuse a stored copy is checked before any work or log.
            draft = derived_document(opened.meta.title, document_id) if store else None
            rows = self._rows(db, document_id)
            # Before anything else about them: the rows must be the log's, all of them.
            check_redactions(self._engine, db, document_id, rows, pin_path=self._pin_path)
            pending = [str(r.id) for r in rows if r.status == Status.PROPOSED]
            if pending:
                raise Conflict(
                    f"{len(pending)} redaction(s) still proposed: " + ", ".join(pending)
                ).with_details(redactions=pending)
            approved = applying(opened.data_key, rows)
            stale = [str(r.id) for r, s in approved if s.content_sha256 != opened.meta.sha256]
            if stale:
                raise Conflict(
                    f"{len(stale)} redaction(s) were made on other content: " + ", ".join(stale)
                ).with_details(redactions=stale)
            unusable = [str(r.id) for r, s in approved if not usable(s.proposal)]
            if unusable:
                raise Conflict(
                    f"{len(unusable)} approved redaction(s) have coordinates no page has "
                    "(stored before they were checked): withdraw them, then propose them again: "
                    + ", ".join(unusable)
                ).with_details(redactions=unusable)
            targets = [target(str(r.id), s.proposal, s.text) for r, s in approved]
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
        extra = {
            "sha256": result.sha256,
            "redactions": str(len(targets)),
            "unchecked": str(len(result.unchecked)),
            "pages_rendered": str(len(result.pictures)),
            "pages_kept": str(len(result.kept)),
        }
        stored = None
        if draft is not None:
            # Written first, then logged with the stored copy's id: the entry never says "ok"
            # for a copy that was not kept.
            stored = self._documents.add(
                actor,
                case_id=opened.row.case_id,
                content=iter([result.content]),
                document=replace(draft, filename=filename, media_type=result.media_type),
            )
            extra["stored"] = str(stored.id)
        index = self._log_export(actor, opened, "ok", extra)
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
