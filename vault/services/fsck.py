"""Consistency between the metadata database and the blob store.

Two kinds of damage are possible by design: an orphan blob (a crash after the blob was written
and before its metadata committed, or after a shred committed and before the blob was removed),
and, only through outside interference, a document row whose blob is missing. Recent orphans
are reported but not removed, since they may belong to an upload still in progress.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from vault.services import keyring
from vault.storage.blobstore import LocalBlobStore
from vault.storage.models import Document

__all__ = ["DEFAULT_GRACE_SECONDS", "FsckReport", "check"]

DEFAULT_GRACE_SECONDS = 15 * 60


@dataclass
class FsckReport:
    documents: int = 0
    blobs: int = 0
    orphan_blobs: list[str] = field(default_factory=list)
    recent_orphans: list[str] = field(default_factory=list)
    partial_files: list[str] = field(default_factory=list)
    missing_blobs: list[UUID] = field(default_factory=list)
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not (self.orphan_blobs or self.partial_files or self.missing_blobs)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def check(
    engine: Engine,
    blobs: LocalBlobStore,
    *,
    repair: bool = False,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> FsckReport:
    """Compare rows and blobs; with ``repair``, remove old orphans, stale partial writes and
    rows (with their wrapped keys) whose content is gone."""
    report = FsckReport(repaired=repair)
    with Session(engine) as db:
        rows = db.exec(select(Document.id, Document.blob_id)).all()
        report.documents = len(rows)
        referenced = {blob_id for _, blob_id in rows}
        stored = set(blobs.blob_ids())
        report.blobs = len(stored)
        for blob_id in sorted(stored - referenced):
            old = _age(blobs.root / blob_id[:2] / blob_id) >= grace_seconds
            (report.orphan_blobs if old else report.recent_orphans).append(blob_id)
        for partial in blobs.list_partial():
            if _age(partial) >= grace_seconds:
                report.partial_files.append(partial.name)
        report.missing_blobs = sorted(doc_id for doc_id, blob_id in rows if blob_id not in stored)
        if repair:
            if report.missing_blobs:
                keyring.delete_wrapped(db, kind=keyring.DOCUMENT, subject_ids=report.missing_blobs)
                for doc_id in report.missing_blobs:
                    row = db.get(Document, doc_id)
                    if row is not None:
                        db.delete(row)
                db.commit()
            for blob_id in report.orphan_blobs:
                blobs.delete(blob_id)
            for name in report.partial_files:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(blobs.root / ".tmp" / name)
    return report
