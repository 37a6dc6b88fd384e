"""Redactions proposed and reviewed end to end: the editor's client seals each record under the
document's key itself (``vault.redaction.record``), so the server never sees the term, the
text a span or region covers, or the notes.

The server keeps the rules it can keep without the key, exactly as for server-side proposals
and reviews: only editors (and administrators) of the document's case who hold its key act on
its redactions; a review is of a proposed redaction, read under the appenders' lock so that of
two decisions only the first stands; an approval is by another editor than the proposer unless
the vault allows self-approval (and the log says so); every proposal and decision is an entry
of the access log, witnessed by a signed checkpoint (``vault.services.redaction_ledger``).
What it cannot check, the record's content and its binding to the new state, every reader
checks when it opens the record: a record sealed for another state refuses to open, and an
export that meets one stops (docs/redaction.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit import log as audit_log
from vault.audit.actions import Action
from vault.audit.log import Receipt
from vault.clock import Clock
from vault.errors import Conflict, InvalidInput, NotFound
from vault.redaction.model import Status
from vault.services.documents import DocumentService
from vault.services.redaction_ledger import check_redactions
from vault.services.uow import UnitOfWork
from vault.services.users import Actor
from vault.storage.models import Redaction, Role

__all__ = ["MAX_SEALED_REDACTION", "ClientExport", "SealedRedactions", "StoredRedaction"]

# A record holds a term or covered text (a region's OCR text can be long), notes of 2,000
# characters and a withdrawal: sealed, well under this.
MAX_SEALED_REDACTION = 256 * 1024
_E2E = {"mode": "end-to-end"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_APPLYING = (Status.APPROVED.value, Status.WITHDRAWING.value)


@dataclass(frozen=True)
class StoredRedaction:
    """A redaction as stored: its clear columns and its sealed record."""

    id: UUID
    document_id: UUID
    status: str
    proposer_id: UUID
    reviewer_id: UUID | None
    created_at: datetime
    reviewed_at: datetime | None
    sealed: bytes


@dataclass(frozen=True)
class ClientExport:
    """What an end-to-end client says of an export it made: whether its release check passed,
    the SHA-256 of what it releases, and the redactions it applied."""

    ok: bool
    sha256: str
    applied: frozenset[UUID]
    reason: str | None = None  # of a refusal: a short code, never text from the document


def _stored(row: Redaction) -> StoredRedaction:
    return StoredRedaction(
        row.id,
        row.document_id,
        row.status,
        row.proposer_id,
        row.reviewer_id,
        row.created_at,
        row.reviewed_at,
        bytes(row.sealed),
    )


def _check_size(sealed: bytes) -> None:
    if not 0 < len(sealed) <= MAX_SEALED_REDACTION:
        raise InvalidInput(f"a sealed redaction record is 1 to {MAX_SEALED_REDACTION} bytes")


class SealedRedactions:
    def __init__(
        self,
        *,
        engine: Engine,
        documents: DocumentService,
        clock: Clock,
        self_approval: bool,
        witness: Callable[[], object] | None,
        pin_path: Path | None = None,
    ) -> None:
        self._engine = engine
        self._pin_path = pin_path
        self._uow = UnitOfWork(engine, clock)
        self._documents = documents
        self._clock = clock
        self._self_approval = self_approval
        self._witness = witness

    def _reach(self, db: Session, actor: Actor, document_id: UUID) -> tuple[UUID, UUID]:
        """The document's id and case, for an editor or administrator of it who holds its key;
        to anyone else redactions do not exist, like the document."""
        if actor.role not in (Role.EDITOR, Role.ADMIN):
            raise NotFound("no such document")
        row = self._documents.held(db, actor, document_id)
        return row.id, row.case_id

    def _witnessed(self) -> None:
        if self._witness is not None:
            self._witness()

    def of_document(self, actor: Actor, document_id: UUID) -> list[StoredRedaction]:
        """The document's redactions as stored, oldest first. Logged as a listing."""
        with self._uow.audited(actor, Action.REDACTION_LIST, extra=_E2E) as work:
            doc_id, case_id = self._reach(work.db, actor, document_id)
            rows = work.db.exec(
                select(Redaction)
                .where(Redaction.document_id == doc_id)
                .order_by(col(Redaction.created_at), col(Redaction.id))
            ).all()
            work.add(document=doc_id, case=case_id)
            return [_stored(row) for row in rows]

    def propose(
        self, actor: Actor, document_id: UUID, redaction_id: UUID, sealed: bytes
    ) -> StoredRedaction:
        """Record a proposal the client sealed for the state "proposed by ``actor``"."""
        _check_size(sealed)
        if redaction_id.version != 4:
            raise InvalidInput("a redaction id is a random (version 4) UUID")
        with self._uow.audited(actor, Action.REDACTION_PROPOSE, extra=_E2E) as work:
            doc_id, case_id = self._reach(work.db, actor, document_id)
            if work.db.get(Redaction, redaction_id) is not None:
                raise Conflict("a redaction with this id exists already")
            row = Redaction(
                id=redaction_id,
                document_id=doc_id,
                status=Status.PROPOSED.value,
                proposer_id=actor.user_id,
                sealed=sealed,
                created_at=self._clock(),
            )
            work.db.add(row)
            work.add(document=doc_id, case=case_id, redaction=redaction_id)
            stored = _stored(row)
        self._witnessed()
        return stored

    def log_export(self, actor: Actor, document_id: UUID, made: ClientExport) -> Receipt:
        """Record an export an end-to-end client made, before it releases it: refused, like a
        server-side export, unless the access log verifies and holds the document's
        redactions as they are (``redaction_ledger``), none is still proposed, and the client
        applied every approved one (a withdrawn one it may leave out only if its record, which
        the client opened, says the withdrawal was approved). Its receipt is the entry."""
        if not _SHA256.fullmatch(made.sha256):
            raise InvalidInput("sha256 is 64 hexadecimal digits")
        with self._uow.read() as db:
            doc_id, case_id = self._reach(db, actor, document_id)
            rows = list(db.exec(select(Redaction).where(Redaction.document_id == doc_id)))
            check_redactions(self._engine, db, doc_id, rows, pin_path=self._pin_path)
        pending = [str(r.id) for r in rows if r.status == Status.PROPOSED.value]
        if made.ok and pending:
            raise Conflict(
                f"{len(pending)} redaction(s) still proposed: " + ", ".join(pending)
            ).with_details(redactions=pending)
        applying = {r.id for r in rows if r.status in _APPLYING}
        allowed = applying | {r.id for r in rows if r.status == Status.WITHDRAWN.value}
        if made.ok and not applying <= made.applied <= allowed:
            raise Conflict("the export did not apply exactly the document's approved redactions")
        extra = {"sha256": made.sha256, "redactions": str(len(made.applied)), **_E2E}
        if made.reason is not None:
            extra["reason"] = made.reason
        outcome = "ok" if made.ok else "refused"
        with self._uow.audited(actor, Action.DOCUMENT_EXPORT, outcome=outcome, extra=extra) as work:
            work.add(document=doc_id, case=case_id)
            index = work.log()
            receipt = audit_log.receipt(work.db, index)
        return receipt

    def review(
        self, actor: Actor, redaction_id: UUID, status: Status, sealed: bytes
    ) -> StoredRedaction:
        """Approve or reject a proposed redaction with the record the client sealed for the
        new state (reviewed by ``actor``)."""
        _check_size(sealed)
        if status not in (Status.APPROVED, Status.REJECTED):
            raise InvalidInput("a review approves or rejects")
        action = Action.REDACTION_APPROVE if status is Status.APPROVED else Action.REDACTION_REJECT
        with self._uow.audited(actor, action, extra=_E2E) as work:
            # Under the appenders' lock: of two decisions on one redaction, the second sees the
            # first's outcome and is refused.
            work.lock()
            row = work.db.get(Redaction, redaction_id, populate_existing=True)
            if row is None:
                raise NotFound("no such redaction")
            try:
                doc_id, case_id = self._reach(work.db, actor, row.document_id)
            except NotFound:
                raise NotFound("no such redaction") from None
            if row.status != Status.PROPOSED.value:
                raise Conflict(f"this redaction is already {row.status}")
            own = row.proposer_id == actor.user_id
            if status is Status.APPROVED and own and not self._self_approval:
                raise Conflict("a redaction must be approved by another editor than its proposer")
            row.status = status.value
            row.reviewer_id = actor.user_id
            row.reviewed_at = self._clock()
            row.sealed = sealed
            work.db.add(row)
            extra = {"self_approved": "true"} if status is Status.APPROVED and own else {}
            work.add(document=doc_id, case=case_id, redaction=row.id, extra={**_E2E, **extra})
            stored = _stored(row)
        self._witnessed()
        return stored
