"""Recording stored uploads in the database, several concurrent ones per transaction.

An upload's content is in the blob store (fsynced) before it is recorded here: its row, the
wrapped copies of its key, and its access-log entry commit together or not at all, and the
upload is acknowledged only after that commit (``vault.services.documents``). Uploads that
finish streaming while another's record commits wait and are then recorded together
(``vault.services.group_commit``): one transaction, one fsync and one hold of the appenders'
lock for all of them, instead of one each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from vault import crypto
from vault.audit import context
from vault.audit import log as audit
from vault.audit.actions import Action
from vault.clock import Clock
from vault.crypto import PublicKey
from vault.errors import StorageError
from vault.services import keyring
from vault.services.document_records import DocumentMetadata, seal_metadata
from vault.services.group_commit import GroupCommit
from vault.services.uow import SYSTEM, UnitOfWork
from vault.services.users import Actor
from vault.storage.models import Document

__all__ = ["StoredUpload", "UploadRecorder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredUpload:
    """An upload whose content is stored, waiting to be recorded."""

    actor: Actor
    case_id: UUID
    doc_id: UUID
    data_key: bytes
    blob_id: str
    ciphertext_size: int
    ciphertext_sha256: str
    meta: DocumentMetadata
    request_id: str | None


class UploadRecorder:
    """``record(upload)``: the upload's row, keys and entry, committed (with any others
    waiting) before it returns."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._clock = clock
        self._group: GroupCommit[StoredUpload, tuple[Document, audit.Receipt]] = GroupCommit(
            self._write
        )

    def stored(
        self,
        actor: Actor,
        *,
        case_id: UUID,
        doc_id: UUID,
        data_key: bytes,
        blob_id: str,
        ciphertext_size: int,
        ciphertext_sha256: str,
        meta: DocumentMetadata,
    ) -> StoredUpload:
        """What ``record`` needs of an upload, with the request it belongs to (the entry
        names it, whichever thread writes it)."""
        return StoredUpload(
            actor,
            case_id,
            doc_id,
            data_key,
            blob_id,
            ciphertext_size,
            ciphertext_sha256,
            meta,
            context.request_id.get(),
        )

    def record(self, upload: StoredUpload) -> tuple[Document, audit.Receipt]:
        """Commit ``upload``'s record; ``StorageError`` if the database refused it."""
        try:
            return self._group.submit(upload)
        except SQLAlchemyError as exc:
            log.debug("document metadata write failed: %s", type(exc).__name__)
            raise StorageError("the document could not be recorded in the database") from None

    def _write(self, uploads: Sequence[StoredUpload]) -> list[tuple[Document, audit.Receipt]]:
        with self._uow.audited(SYSTEM) as work:
            # Uploads of one case by one uploader share their recipients (read once here, in
            # this transaction).
            recipients: dict[tuple[UUID, UUID], list[PublicKey]] = {}
            added = [self._add(work.db, upload, recipients) for upload in uploads]
            # Every row and key is written before the first entry takes the appenders' lock,
            # which is then held only for the entries and the commit.
            work.db.flush()
            indices = []
            for upload, (_row, commitment) in zip(uploads, added, strict=True):
                # The entry names the key commitment as well as the ciphertext digest (which
                # covers it too, in the header): the document every reader opens is the one
                # logged.
                extra = {
                    "ciphertext_sha256": upload.ciphertext_sha256,
                    "key_commitment": commitment.hex(),
                }
                indices.append(
                    work.record(
                        Action.DOCUMENT_UPLOAD,
                        actor=upload.actor.user_id,
                        extra=extra,
                        request_id=upload.request_id,
                        document=upload.doc_id,
                        case=upload.case_id,
                    )
                )
            # The uploader's receipt holds the entry's bytes, read before the commit.
            receipts = [audit.receipt(work.db, index) for index in indices]
        return [(row, receipt) for (row, _c), receipt in zip(added, receipts, strict=True)]

    def _add(
        self,
        db: Session,
        upload: StoredUpload,
        recipients: dict[tuple[UUID, UUID], list[PublicKey]],
    ) -> tuple[Document, bytes]:
        """Add ``upload``'s row and wrapped keys; return the row and its key commitment."""
        commitment = crypto.key_commitment(
            upload.data_key, kind=keyring.DOCUMENT, subject_id=upload.doc_id
        )
        row = Document(
            id=upload.doc_id,
            case_id=upload.case_id,
            uploader_id=upload.actor.user_id,
            blob_id=upload.blob_id,
            ciphertext_size=upload.ciphertext_size,
            created_at=self._clock(),
            sealed_metadata=b"",
            key_commitment=commitment,
        )
        row.sealed_metadata = seal_metadata(upload.data_key, row, upload.meta)
        db.add(row)
        # Recipients are read in the same transaction as the insert, so a member added while
        # the upload streamed is not missed.
        whose = (upload.case_id, upload.actor.user_id)
        if whose not in recipients:
            recipients[whose] = keyring.case_recipients(
                db, upload.case_id, also=upload.actor.user_id
            )
        keyring.store_wrapped_new(
            db,
            kind=keyring.DOCUMENT,
            subject_id=upload.doc_id,
            data_key=upload.data_key,
            commitment=commitment,
            recipients=recipients[whose],
            clock=self._clock,
        )
        return row, commitment
