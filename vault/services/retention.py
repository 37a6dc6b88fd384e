"""Retention runs: crypto-shred every document whose case's retention period is over, unless
it is under legal hold (``vault.services.retention_policy`` says what is due).

Runs may overlap: every replica of ``vault serve`` keeps its own schedule, and an operator may
run ``vault retention run`` meanwhile. No run-wide lock is needed, because each document is
shredded in a transaction of its own that records its access-log entry first. That write is
the one every audited change takes (``vault.audit.log``: the log head's row lock on
PostgreSQL, the write lock on SQLite), and only after it are the document, its case and their
holds read again. So of two runs only one deletes a document (the other finds it gone and
skips it), a hold or a shorter period committed before the deletion is always seen, and a
run stopped halfway leaves each document either whole or shredded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import LegalHold, NotFound, VaultError
from vault.services.retention_policy import Due, due_at, due_documents
from vault.services.shredding import discard_blobs, shred
from vault.services.uow import SYSTEM, UnitOfWork
from vault.storage.blobstore import BlobStore
from vault.storage.models import Case, Document

__all__ = ["Outcome", "RetentionItem", "RetentionReport", "RetentionSchedule", "RetentionService"]

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    DELETED = "deleted"  # shredded by this run
    DUE = "due"  # a dry run: would be shredded
    HELD = "held"  # due, but the case or the document is under legal hold
    SKIPPED = "skipped"  # gone already (another run), or no longer due when its turn came


@dataclass(frozen=True)
class RetentionItem:
    """One due document and what the run did with it (ids and times only)."""

    due: Due
    outcome: Outcome


@dataclass(frozen=True)
class RetentionReport:
    dry_run: bool
    items: list[RetentionItem]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for item in self.items if item.outcome == outcome)


class RetentionService:
    """Finds and shreds due documents as the ``system`` actor: no member's key is needed to
    delete wrapped keys and ciphertext, which is why the server can do it on its own."""

    def __init__(self, *, engine: Engine, blobs: BlobStore, clock: Clock) -> None:
        self._engine = engine
        self._uow = UnitOfWork(engine, clock)
        self._blobs = blobs
        self._clock = clock

    def due(self) -> list[Due]:
        """What is due now, held or not."""
        with self._uow.read() as db:
            return due_documents(db, self._clock())

    def run(
        self, *, dry_run: bool = False, should_stop: Callable[[], bool] = lambda: False
    ) -> RetentionReport:
        """Shred what is due now (``dry_run``: only report it). ``should_stop`` is asked
        between documents, so that a server shutting down does not wait for a long run."""
        items: list[RetentionItem] = []
        for due in self.due():
            if due.held is not None:
                items.append(RetentionItem(due, Outcome.HELD))
            elif dry_run:
                items.append(RetentionItem(due, Outcome.DUE))
            elif should_stop():
                break
            else:
                items.append(RetentionItem(due, self._shred(due)))
        report = RetentionReport(dry_run=dry_run, items=items)
        if not dry_run and items:
            log.info(
                "retention run: %d deleted, %d held, %d skipped",
                report.count(Outcome.DELETED),
                report.count(Outcome.HELD),
                report.count(Outcome.SKIPPED),
            )
        return report

    def _shred(self, due: Due) -> Outcome:
        try:
            with self._uow.audited(
                SYSTEM,
                Action.RETENTION_DELETE,
                extra={"due_at": due.due_at.isoformat().replace("+00:00", "Z")},
                document=due.document_id,
                case=due.case_id,
            ) as work:
                # The entry first: see the module docstring. If the document is not shredded
                # after all, the unit commits nothing and the entry goes with it.
                work.log()
                if not self._still_due(work.db, due.document_id):
                    work.unchanged()
                    return Outcome.SKIPPED
                blob_id = shred(work, due.document_id)
        except LegalHold:
            return Outcome.HELD
        except NotFound:
            return Outcome.SKIPPED
        discard_blobs(self._engine, self._blobs, [blob_id])
        return Outcome.DELETED

    def _still_due(self, db: Session, document_id: UUID) -> bool:
        """Whether the document is due as things stand now (a period lengthened, or a case
        reopened, since the run listed it, and it is not)."""
        row = db.exec(
            select(Document)
            .where(col(Document.id) == document_id)
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            return False
        case = db.get(Case, row.case_id, populate_existing=True)
        when = None if case is None else due_at(case, row.created_at)
        return when is not None and when <= self._clock()


class RetentionSchedule:
    """Runs retention on a daemon thread: once at start, then every ``interval_seconds``.
    ``stop`` ends it between two documents and waits for the thread."""

    def __init__(self, service: RetentionService, *, interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError("the retention interval must be positive")
        self._service = service
        self._interval = interval_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vault-retention", daemon=True)
        self.runs = 0  # completed runs, for tests and diagnostics

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._service.run(should_stop=self._stopping.is_set)
            except VaultError as exc:
                # The database may be down for a moment: the next run tries again.
                log.warning("retention run failed: %s", type(exc).__name__)
            except Exception as exc:  # a background thread must not die silently
                log.error("retention run failed unexpectedly: %s", type(exc).__name__)
            self.runs += 1
            self._stopping.wait(self._interval)
