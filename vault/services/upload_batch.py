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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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

__all__ = ["ClientSealed", "ServerSealed", "StoredUpload", "UploadRecorder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerSealed:
    """An upload the server encrypted: it seals the record and wraps the key itself."""

    data_key: bytes
    meta: DocumentMetadata


@dataclass(frozen=True)
class ClientSealed:
    """An upload an end-to-end client encrypted: its record sealed and its key wrapped (for
    each recipient, by key id) by the client; the server holds no key to any of it."""

    created_at: datetime
    commitment: bytes
    sealed_metadata: bytes
    wrapped: Mapping[str, bytes]


@dataclass(frozen=True)
class StoredUpload:
    """An upload whose content is stored, waiting to be recorded."""

    actor: Actor
    case_id: UUID
    doc_id: UUID
    sealing: ServerSealed | ClientSealed
    blob_id: str
    ciphertext_size: int
    ciphertext_sha256: str
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
        sealing: ServerSealed | ClientSealed,
        blob_id: str,
        ciphertext_size: int,
        ciphertext_sha256: str,
    ) -> StoredUpload:
        """What ``record`` needs of an upload, with the request it belongs to (the entry
        names it, whichever thread writes it)."""
        return StoredUpload(
            actor,
            case_id,
            doc_id,
            sealing,
            blob_id,
            ciphertext_size,
            ciphertext_sha256,
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
                if isinstance(upload.sealing, ClientSealed):
                    extra["mode"] = "end-to-end"
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
        sealing = upload.sealing
        if isinstance(sealing, ClientSealed):
            commitment, created_at = sealing.commitment, sealing.created_at
        else:
            commitment = crypto.key_commitment(
                sealing.data_key, kind=keyring.DOCUMENT, subject_id=upload.doc_id
            )
            created_at = self._clock()
        row = Document(
            id=upload.doc_id,
            case_id=upload.case_id,
            uploader_id=upload.actor.user_id,
            blob_id=upload.blob_id,
            ciphertext_size=upload.ciphertext_size,
            created_at=created_at,
            sealed_metadata=b"",
            key_commitment=commitment,
        )
        db.add(row)
        # Recipients are read in the same transaction as the insert, so a member added while
        # the upload streamed is not missed.
        whose = (upload.case_id, upload.actor.user_id)
        if whose not in recipients:
            recipients[whose] = keyring.case_recipients(
                db, upload.case_id, also=upload.actor.user_id
            )
        if isinstance(sealing, ClientSealed):
            row.sealed_metadata = sealing.sealed_metadata
            keyring.store_client_wrapped(
                db,
                kind=keyring.DOCUMENT,
                subject_id=upload.doc_id,
                wrapped=sealing.wrapped,
                recipients=recipients[whose],
                clock=self._clock,
            )
            return row, commitment
        row.sealed_metadata = seal_metadata(sealing.data_key, row, sealing.meta)
        keyring.store_wrapped_new(
            db,
            kind=keyring.DOCUMENT,
            subject_id=upload.doc_id,
            data_key=sealing.data_key,
            commitment=commitment,
            recipients=recipients[whose],
            clock=self._clock,
        )
        return row, commitment
