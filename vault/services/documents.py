"""Documents: store from a stream, read back as a stream, list, crypto-shred.

Each document has its own data key. Its content is a segmented AEAD stream in the blob store;
what it says about itself (title, filename, media type, notes, source link, plaintext digest and
size) is one sealed record in the database; its key is wrapped for every enrolled member of its
case and for the recovery key. Readers who joined the case after the document was stored see it
as *pending* until a member completes their grant (``vault.services.grants``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from vault import crypto, mediatypes
from vault.audit.actions import Action
from vault.clock import Clock
from vault.crypto import PrivateKey
from vault.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    StorageError,
)
from vault.services import grants, keyring
from vault.services.document_records import (
    DocumentInfo,
    DocumentMetadata,
    NewDocument,
    document_info,
    open_metadata,
)
from vault.services.grants import is_member
from vault.services.shredding import discard_blobs, shred
from vault.services.uow import RECOVERY, UnitOfWork
from vault.services.upload_batch import ServerSealed, UploadRecorder
from vault.services.users import Actor
from vault.storage.blobstore import BlobStore
from vault.storage.models import Document, RecoveryKey, Role, Source, User, WrappedKey
from vault.storage.pipeline import put_pipelined

__all__ = [
    "DocumentInfo",
    "DocumentMetadata",
    "DocumentService",
    "NewDocument",
    "SealedDocument",
    "StoredCiphertext",
    "open_metadata",
]

_NO_CASE = UUID(int=0)
_E2E = {"mode": "end-to-end"}  # how a sealed read is told apart in the log


def _page(case_id: UUID, after: tuple[datetime, UUID] | None) -> SelectOfScalar[Document]:
    """The case's documents in upload order (then by id), from just after ``after``."""
    stmt = select(Document).where(Document.case_id == case_id)
    if after is not None:
        created, last_id = after
        stmt = stmt.where(
            (col(Document.created_at) > created)
            | ((col(Document.created_at) == created) & (col(Document.id) > last_id))
        )
    return stmt.order_by(col(Document.created_at), col(Document.id))


@dataclass(frozen=True)
class SealedDocument:
    """A document as stored, for a client that opens it with its own key."""

    info: DocumentInfo  # the clear row (metadata not opened)
    key_commitment: bytes | None
    sealed_metadata: bytes
    recipient_key_id: str  # whose copy ``wrapped_key`` is
    wrapped_key: bytes | None  # None while the caller's grant is pending


@dataclass(frozen=True)
class StoredCiphertext:
    """A document's ciphertext: its size, and its bytes from an offset on."""

    size: int
    read_from: Callable[[int], Iterator[bytes]]


class DocumentService:
    """Document operations, each checking the actor's reach itself: a document outside it is
    ``NotFound``, exactly like one that does not exist."""

    def __init__(
        self, *, engine: Engine, blobs: BlobStore, clock: Clock, segment_size: int
    ) -> None:
        self._engine = engine
        self._uow = UnitOfWork(engine, clock)
        self.recorder = UploadRecorder(engine, clock)  # shared with end-to-end uploads
        self._blobs = blobs
        self._clock = clock
        self._segment_size = segment_size

    # -- storing -----------------------------------------------------------------------------

    def add(
        self,
        actor: Actor,
        *,
        case_id: UUID,
        content: Iterable[bytes],
        document: NewDocument,
        max_size: int | None = None,
    ) -> DocumentInfo:
        """Encrypt ``content`` into a new document of ``case_id``.

        The blob is written (and fsynced) before the metadata transaction commits, so a crash
        leaves at most an orphan blob and never a document without content.
        """
        document.validate()
        with self._uow.read() as db:
            if not is_member(db, case_id, actor.user_id):
                raise NotFound("no such case")
            if document.source_id is not None:
                source = db.get(Source, document.source_id)
                if source is None or source.case_id != case_id:
                    raise NotFound("no such source in this case")
            keyring.active_recovery_key(db)
        doc_id = uuid.uuid4()
        data_key = crypto.new_data_key()
        digest = hashlib.sha256()
        size = 0

        def plaintext() -> Iterator[bytes]:
            nonlocal size
            for chunk in content:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise LimitExceeded(f"document is larger than the limit of {max_size} bytes")
                digest.update(chunk)
                yield chunk

        stream = crypto.encrypt_stream(
            data_key, doc_id, plaintext(), segment_size=self._segment_size
        )
        # The access log records what was stored: a hash of ciphertext, never of plaintext.
        stored = hashlib.sha256()
        # The ciphertext is hashed and written on a second thread while this one reads, hashes
        # and encrypts the plaintext: both halves release the GIL, so on two cores a 1 GiB
        # upload takes about half the time it did in one thread (benchmarks/content.py).
        blob = put_pipelined(self._blobs, stream, observe=stored.update)
        meta = DocumentMetadata(
            title=document.title,
            filename=document.filename,
            media_type=mediatypes.normalise(document.media_type),
            notes=document.notes,
            source_id=document.source_id,
            kind=document.kind,
            sha256=digest.hexdigest(),
            size=size,
            derived_from=document.derived_from,
        )
        stored_upload = self.recorder.stored(
            actor,
            case_id=case_id,
            doc_id=doc_id,
            sealing=ServerSealed(data_key, meta),
            blob_id=blob.blob_id,
            ciphertext_size=blob.size,
            ciphertext_sha256=stored.hexdigest(),
        )
        try:
            # Recorded together with uploads that finish meanwhile: one commit for all.
            row, receipt = self.recorder.record(stored_upload)
        except BaseException:
            self._blobs.delete(blob.blob_id)
            raise
        return replace(document_info(row, meta), receipt=receipt)

    # -- reading -----------------------------------------------------------------------------

    def _visible(self, db: Session, actor: Actor, document_id: UUID) -> Document:
        row = db.get(Document, document_id)
        # The membership check runs whether the document exists or not (for a case id that
        # none has), so that "not there" and "not yours" do the same work: the skipped query
        # was a 0.2 ms difference that told them apart.
        member = is_member(db, row.case_id if row is not None else _NO_CASE, actor.user_id)
        if row is None or not member:
            raise NotFound("no such document")
        return row

    def get(self, actor: Actor, document_id: UUID) -> DocumentInfo:
        """A document's metadata, opened with the actor's key (pending if they hold none)."""
        with self._uow.audited(actor, Action.DOCUMENT_METADATA_READ) as work:
            row = self._visible(work.db, actor, document_id)
            data_key = self._data_key(work.db, row, actor)
            info = document_info(row, open_metadata(row, data_key) if data_key else None)
            work.add(document=row.id, case=row.case_id)
        return info

    def list(
        self,
        actor: Actor,
        case_id: UUID,
        *,
        source_id: UUID | None = None,
        after: tuple[datetime, UUID] | None = None,
        limit: int | None = None,
    ) -> list[DocumentInfo]:
        """The case's documents in upload order, from just after ``after`` (the creation time
        and id of the last one seen), at most ``limit``. With ``source_id``, only those linked
        to it (which only readers can tell, so pending documents are then left out)."""
        # The unit appends its entry at the end, after the reads: on SQLite the first write
        # holds the database's write lock until the commit, and other requests would wait
        # behind this page's decryption. Nothing is returned before the entry commits.
        with self._uow.audited(actor, Action.DOCUMENT_LIST, case=case_id) as work:
            db = work.db
            if not is_member(db, case_id, actor.user_id):
                raise NotFound("no such case")
            infos: list[DocumentInfo] = []
            batch = max(limit or 200, 50)
            while limit is None or len(infos) < limit:
                rows = db.exec(_page(case_id, after).limit(batch)).all()
                for row in rows:
                    after = (row.created_at, row.id)
                    data_key = self._data_key(db, row, actor)
                    meta = open_metadata(row, data_key) if data_key else None
                    if source_id is not None and (meta is None or meta.source_id != source_id):
                        continue
                    infos.append(document_info(row, meta))
                    if limit is not None and len(infos) == limit:
                        break
                if len(rows) < batch:
                    break
        return infos

    def open(self, actor: Actor, document_id: UUID) -> tuple[DocumentInfo, Iterator[bytes]]:
        """Metadata and a lazy plaintext stream. The stream raises ``IntegrityError`` at the
        first segment that fails authentication, before yielding any byte of it."""
        with self._uow.audited(actor, Action.DOCUMENT_CONTENT_READ) as work:
            row, data_key = self.readable(work.db, actor, document_id)
            work.add(document=row.id, case=row.case_id)
        # Only once the entry is committed: no read happens without its record.
        return self._stream(row, data_key)

    def open_with_recovery_key(
        self, recovery_key: PrivateKey, document_id: UUID
    ) -> tuple[DocumentInfo, Iterator[bytes]]:
        """Read any document with the organisation recovery key rebuilt from its shares."""
        key_id = recovery_key.public_key().key_id
        with self._uow.audited(RECOVERY, Action.RECOVERY_USED, recovery_key=key_id) as work:
            db = work.db
            if db.get(RecoveryKey, key_id) is None:
                raise IntegrityError("that is not this vault's recovery key", reason="key-id")
            row = db.get(Document, document_id)
            if row is None:
                raise NotFound("no such document")
            data_key = keyring.open_data_key(
                db, kind=keyring.DOCUMENT, subject_id=row.id, key=recovery_key
            )
            if data_key is None:
                raise IntegrityError("document key is not wrapped for recovery", reason="key-id")
            work.add(document=row.id, case=row.case_id)
        # Only once the entry is committed: no read happens without its record.
        return self._stream(row, data_key)

    def readable(self, db: Session, actor: Actor, document_id: UUID) -> tuple[Document, bytes]:
        """The document's row and data key for ``actor``: ``NotFound`` outside their reach,
        ``Conflict`` while their grant is pending. Records nothing: callers log their read."""
        row = self._visible(db, actor, document_id)
        data_key = self._data_key(db, row, actor)
        if data_key is None:
            # On PostgreSQL each read sees what was committed before it: a deletion that
            # commits between the two reads takes the key with the document, which is then
            # gone, not pending.
            if db.exec(select(Document.id).where(col(Document.id) == row.id)).first() is None:
                raise NotFound("no such document")
            raise Conflict("access to this document is pending: a case member must grant it")
        return row, data_key

    def _data_key(self, db: Session, row: Document, actor: Actor) -> bytes | None:
        key = actor.require_key()
        return keyring.open_data_key(db, kind=keyring.DOCUMENT, subject_id=row.id, key=key)

    def stream_for(self, row: Document, data_key: bytes) -> tuple[DocumentInfo, Iterator[bytes]]:
        """The plaintext of ``row`` under ``data_key``, for services that have already checked
        the reader's reach and recorded the read (redacted exports)."""
        return self._stream(row, data_key)

    def _stream(self, row: Document, data_key: bytes) -> tuple[DocumentInfo, Iterator[bytes]]:
        meta = open_metadata(row, data_key)
        try:
            chunks = self._blobs.open(row.blob_id)
        except NotFound:
            raise StorageError(
                "the document's content is missing from the blob store (run `vault fsck`)"
            ) from None
        plaintext = crypto.decrypt_stream(data_key, row.id, chunks, commitment=row.key_commitment)
        return document_info(row, meta), plaintext

    # -- end-to-end reads ---------------------------------------------------------------------

    def sealed(self, actor: Actor, document_id: UUID) -> SealedDocument:
        """What a client that holds its own key needs to open a document itself: the clear
        row, the metadata record as stored, and the caller's wrapped copy of the data key
        (``None`` while their grant is pending). Logged as a metadata read."""
        with self._uow.audited(actor, Action.DOCUMENT_METADATA_READ, extra=_E2E) as work:
            row = self._visible(work.db, actor, document_id)
            key_id, wrapped = self._wrapped_for(work.db, actor, row)
            work.add(document=row.id, case=row.case_id)
        return SealedDocument(
            info=document_info(row, None),
            key_commitment=row.key_commitment,
            sealed_metadata=bytes(row.sealed_metadata),
            recipient_key_id=key_id,
            wrapped_key=wrapped,
        )

    def list_sealed(
        self,
        actor: Actor,
        case_id: UUID,
        *,
        after: tuple[datetime, UUID] | None = None,
        limit: int,
    ) -> tuple[SealedDocument, ...]:
        """A page of the case's documents as stored, in upload order from just after
        ``after``: what ``list`` answers, for a client that opens the records itself."""
        with self._uow.audited(actor, Action.DOCUMENT_LIST, extra=_E2E, case=case_id) as work:
            db = work.db
            if not is_member(db, case_id, actor.user_id):
                raise NotFound("no such case")
            user = db.get(User, actor.user_id)
            if user is None or user.key_id is None:
                raise NotFound("no such case")
            rows = db.exec(_page(case_id, after).limit(limit)).all()
            wrapped = {
                w.subject_id: bytes(w.wrapped)
                for w in db.exec(
                    select(WrappedKey)
                    .where(WrappedKey.kind == keyring.DOCUMENT)
                    .where(WrappedKey.recipient_key_id == user.key_id)
                    .where(col(WrappedKey.subject_id).in_([row.id for row in rows]))
                )
            }
        return tuple(
            SealedDocument(
                info=document_info(row, None),
                key_commitment=row.key_commitment,
                sealed_metadata=bytes(row.sealed_metadata),
                recipient_key_id=user.key_id,
                wrapped_key=wrapped.get(row.id),
            )
            for row in rows
        )

    def ciphertext(self, actor: Actor, document_id: UUID) -> StoredCiphertext:
        """The document's stored ciphertext, for a client that decrypts it itself; ``Conflict``
        while the caller's grant is pending. Logged as a content read before it returns, so
        before any byte leaves."""
        with self._uow.audited(actor, Action.DOCUMENT_CONTENT_READ, extra=_E2E) as work:
            row = self._visible(work.db, actor, document_id)
            if self._wrapped_for(work.db, actor, row)[1] is None:
                raise Conflict("access to this document is pending: a case member must grant it")
            work.add(document=row.id, case=row.case_id)
        blob_id, size = row.blob_id, row.ciphertext_size

        def read_from(start: int) -> Iterator[bytes]:
            if not 0 <= start <= size:
                raise InvalidInput("the range starts past the end of the ciphertext")
            try:
                return self._blobs.open(blob_id, start)
            except NotFound:
                raise StorageError(
                    "the document's content is missing from the blob store (run `vault fsck`)"
                ) from None

        return StoredCiphertext(size, read_from)

    def held(self, db: Session, actor: Actor, document_id: UUID) -> Document:
        """The row of a document ``actor`` may reach and holds a copy of the key to, without
        opening anything: what an end-to-end client's work on it needs (``NotFound`` outside
        their reach, ``Conflict`` while their grant is pending)."""
        row = self._visible(db, actor, document_id)
        if self._wrapped_for(db, actor, row)[1] is None:
            raise Conflict("access to this document is pending: a case member must grant it")
        return row

    def _wrapped_for(self, db: Session, actor: Actor, row: Document) -> tuple[str, bytes | None]:
        """The key id of ``actor``'s account, and the data key of ``row`` wrapped for it."""
        user = db.get(User, actor.user_id)
        if user is None or user.key_id is None:
            raise NotFound("no such document")
        found = keyring.find_wrapped(
            db, kind=keyring.DOCUMENT, subject_id=row.id, key_id=user.key_id
        )
        return user.key_id, None if found is None else bytes(found.wrapped)

    # -- deleting ----------------------------------------------------------------------------

    def delete(self, actor: Actor, document_id: UUID) -> None:
        """Crypto-shred: every wrapped copy of the key and the metadata row go in one
        transaction, then the ciphertext. Editors and administrators of the case only;
        ``LegalHold`` while the document or its case is under legal hold."""
        with self._uow.audited(actor, Action.DOCUMENT_DELETE) as work:
            row = self._visible(work.db, actor, document_id)
            # Destroying material is for editors and administrators a reader approved (one who
            # added themselves, awaiting approval, cannot shred what they cannot read).
            if actor.role not in (Role.EDITOR, Role.ADMIN) or not grants.is_approved(
                work.db, row.case_id, actor.user_id
            ):
                raise NotFound("no such document")
            work.add(document=row.id, case=row.case_id)
            blob_id = shred(work, row.id)
        discard_blobs(self._engine, self._blobs, [blob_id])
