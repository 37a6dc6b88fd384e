"""Crypto-shredding a document: its wrapped keys, its redactions and its row go in one audited
transaction, then its ciphertext.

An editor's ``DELETE`` (``vault.services.documents``) and a retention run
(``vault.services.retention``) both shred through here, inside the unit of work that records
the deletion. A legal hold stops both (``LegalHold``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import delete, text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from vault.errors import LegalHold, NotFound, StorageError
from vault.services import keyring
from vault.services.uow import Work
from vault.storage.blobstore import BlobStore
from vault.storage.models import Case, Document, Redaction

__all__ = ["discard_blobs", "shred"]

log = logging.getLogger(__name__)


def shred(work: Work, document_id: UUID) -> str:
    """Delete a document's wrapped keys, its redactions and its row in ``work``'s transaction,
    and return its blob id, for :func:`discard_blobs` once the unit commits.

    The unit's entry is appended first: that write serialises this transaction with every
    other audited change (``vault.audit.log``), so the row and holds read here are current.
    ``NotFound`` if the document is gone already (a concurrent shred), ``LegalHold`` if it or
    its case is under legal hold: a hold stops every deletion."""
    work.log()
    db = work.db
    row = db.exec(
        select(Document)
        .where(col(Document.id) == document_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFound("no such document")
    case = db.get(Case, row.case_id, populate_existing=True)
    if row.held_at is not None or (case is not None and case.held_at is not None):
        held = "document" if row.held_at is not None else "case"
        raise LegalHold(
            f"the {held} is under legal hold: nothing of it is deleted until the hold is released"
        ).with_details(hold=held)
    keyring.delete_wrapped(db, kind=keyring.DOCUMENT, subject_ids=[row.id])
    # Its redactions point at what in it identifies people: they go with it.
    db.execute(delete(Redaction).where(col(Redaction.document_id) == row.id))
    db.delete(row)
    return row.blob_id


def discard_blobs(engine: Engine, blobs: BlobStore, blob_ids: Iterable[str]) -> None:
    """Delete the ciphertext of shredded documents (after their rows are committed gone), then
    flush what SQLite still holds of the deleted rows."""
    for blob_id in blob_ids:
        try:
            blobs.delete(blob_id)
        except StorageError:
            # The keys are gone, so the ciphertext is already unreadable; fsck removes it.
            log.warning("shredded document left an orphan blob for fsck")
    # SQLite with secure_delete zeroes freed pages in the database file, but older page
    # images stay in the write-ahead log until a checkpoint rewrites it.
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
