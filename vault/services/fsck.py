"""Consistency between the metadata database and the blob store.

Two kinds of damage are possible by design: an orphan blob (a crash after the blob was written
and before its metadata committed, or after a shred committed and before the blob was removed),
and, only through outside interference, a document row whose blob is missing. Recent orphans
are reported but not removed, since they may belong to an upload still in progress.

A vault in use changes while it is checked, and the rows and the blobs cannot be read at one
instant. Every discrepancy is therefore confirmed before it is reported: the rows involved are
read again in a new transaction and the blobs looked up again. A document deleted in between is
gone, not broken (a shred commits its row before removing its blob), and a blob whose upload
committed in between is not an orphan (an upload writes its blob before its row).

Every record of a table the server seals (``vault.services.row_seals``) is checked against its
seal, and each whose seal is missing or does not verify is named by table and id: it was changed
outside the vault. ``--repair`` never seals them again (that would launder the edit) and leaves
them as they are; what was changed, and what to restore, is the operator's to find out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from vault.clock import system_clock
from vault.services import keyring, redaction_ledger, row_seal_guard, row_seals
from vault.services.row_seal_guard import UNCHECKED
from vault.services.uow import UnitOfWork
from vault.storage.blobstore import BlobStore
from vault.storage.models import Document

__all__ = ["DEFAULT_GRACE_SECONDS", "FsckReport", "check"]

DEFAULT_GRACE_SECONDS = 15 * 60
# Ids per query when confirming: well under SQLite's limit on bound parameters.
_BATCH = 500


@dataclass
class FsckReport:
    documents: int = 0
    blobs: int = 0
    orphan_blobs: list[str] = field(default_factory=list)
    recent_orphans: list[str] = field(default_factory=list)
    partial_files: list[str] = field(default_factory=list)
    missing_blobs: list[UUID] = field(default_factory=list)
    # (table, record id, "missing" or "mismatch") of every record whose seal fails.
    broken_seals: list[tuple[str, str, str]] = field(default_factory=list)
    seals_checked: bool = True  # False: no seal key file, records not checked
    # (redaction id, "missing" or "state", detail) where the database differs from what the
    # access log records of a document's redactions (vault.services.redaction_ledger).
    unwitnessed: list[tuple[str, str, str]] = field(default_factory=list)
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not (
            self.orphan_blobs
            or self.partial_files
            or self.missing_blobs
            or self.broken_seals
            or self.unwitnessed
            or not self.seals_checked
        )


def _batches(items: Collection[object]) -> Iterator[list[object]]:
    ordered = list(items)
    for start in range(0, len(ordered), _BATCH):
        yield ordered[start : start + _BATCH]


def _still_without_blob(
    uow: UnitOfWork, blobs: BlobStore, candidates: dict[UUID, str]
) -> list[UUID]:
    """The documents of ``candidates`` that still exist, with the same blob, and whose blob is
    still absent, read afresh."""
    confirmed = []
    with uow.read() as db:
        for batch in _batches(candidates):
            query = select(Document.id, Document.blob_id).where(col(Document.id).in_(batch))
            for doc_id, blob_id in db.exec(query.execution_options(row_seals=UNCHECKED)).all():
                if candidates[doc_id] == blob_id and not blobs.exists(blob_id):
                    confirmed.append(doc_id)
    return sorted(confirmed)


def _still_orphans(uow: UnitOfWork, blobs: BlobStore, candidates: set[str]) -> list[str]:
    """The blobs of ``candidates`` that still exist and that no document refers to, read
    afresh."""
    referenced: set[str] = set()
    with uow.read() as db:
        for batch in _batches(candidates):
            query = select(Document.blob_id).where(col(Document.blob_id).in_(batch))
            referenced.update(db.exec(query.execution_options(row_seals=UNCHECKED)).all())
    return sorted(b for b in candidates - referenced if blobs.exists(b))


def check(
    engine: Engine,
    blobs: BlobStore,
    *,
    repair: bool = False,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> FsckReport:
    """Compare rows and blobs, and check every sealed record with the key registered for
    ``engine`` (none: the seal key file is missing, and the report says the records were not
    checked); with ``repair``,
    remove old orphans, stale partial writes and rows (with their wrapped keys) whose content
    is gone, but never a record whose seal fails. Safe on a vault in use: only discrepancies
    that are still there when read again are reported (see the module's docstring)."""
    report = FsckReport(repaired=repair)
    uow = UnitOfWork(engine, system_clock)
    with uow.read() as db:
        key = row_seal_guard.row_key_of(engine)
        if key is None:
            report.seals_checked = False
        else:
            report.broken_seals = row_seals.unchecked(db, key)
        report.unwitnessed = redaction_ledger.unwitnessed(db)
        query = select(Document.id, Document.blob_id).execution_options(row_seals=UNCHECKED)
        rows = dict(db.exec(query).all())
    stored = set(blobs.blob_ids())
    report.documents = len(rows)
    report.blobs = len(stored)
    referenced = set(rows.values())
    without_blob = {doc_id: blob_id for doc_id, blob_id in rows.items() if blob_id not in stored}
    report.missing_blobs = _still_without_blob(uow, blobs, without_blob)
    for blob_id in _still_orphans(uow, blobs, stored - referenced):
        old = blobs.age_seconds(blob_id) >= grace_seconds
        (report.orphan_blobs if old else report.recent_orphans).append(blob_id)
    for partial in blobs.partial_writes():
        if partial.age_seconds >= grace_seconds:
            report.partial_files.append(partial.name)
    edited = {UUID(record) for table, record, _ in report.broken_seals if table == "documents"}
    if repair:
        if gone := [d for d in report.missing_blobs if d not in edited]:
            # Damage, not an action on a document: the operator asked for the repair at the
            # server and reads its report; nobody could read these documents any more.
            with uow.unaudited("fsck --repair removes rows whose content is gone") as db:
                keyring.delete_wrapped(db, kind=keyring.DOCUMENT, subject_ids=gone)
                for doc_id in gone:
                    row = db.get(Document, doc_id)
                    if row is not None:
                        db.delete(row)
        for blob_id in report.orphan_blobs:
            blobs.delete(blob_id)
        for name in report.partial_files:
            blobs.discard_partial(name)
    return report
