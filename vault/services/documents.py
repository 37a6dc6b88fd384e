"""Documents: store from a stream, read back as a stream, list, crypto-shred.

Each document has its own data key. Its content is a segmented AEAD stream in the blob store;
what it says about itself (title, filename, media type, notes, source link, plaintext digest and
size) is one sealed record in the database; its key is wrapped for every enrolled member of its
case and for the recovery key. Readers who joined the case after the document was stored see it
as *pending* until a member completes their grant (``vault.services.grants``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from vault import crypto, freetext, mediatypes
from vault.audit import log as audit
from vault.clock import Clock
from vault.crypto import PrivateKey
from vault.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    LegalHold,
    LimitExceeded,
    NotFound,
    StorageError,
)
from vault.services import grants, keyring
from vault.services.cases import is_member
from vault.services.users import Actor
from vault.storage.blobstore import BlobStore
from vault.storage.models import Case, Document, RecoveryKey, Redaction, Role, Source
from vault.storage.pipeline import put_pipelined

__all__ = [
    "DocumentInfo",
    "DocumentMetadata",
    "DocumentService",
    "NewDocument",
    "discard_blobs",
    "open_metadata",
    "shred",
]

log = logging.getLogger(__name__)
_METADATA_LABEL = "document-metadata"
_NO_CASE = UUID(int=0)
MAX_TITLE = 500
MAX_NOTES = 64 * 1024


@dataclass(frozen=True)
class NewDocument:
    """What the uploader says about a document; all of it is stored sealed."""

    title: str
    filename: str | None = None
    media_type: str = "application/octet-stream"
    notes: str | None = None
    source_id: UUID | None = None
    kind: str | None = None
    derived_from: UUID | None = None

    def validate(self) -> None:
        if not self.title.strip() or len(self.title) > MAX_TITLE:
            raise InvalidInput(f"title must be 1-{MAX_TITLE} characters")
        if self.notes is not None and len(self.notes) > MAX_NOTES:
            raise InvalidInput(f"notes must be at most {MAX_NOTES} characters")
        if self.filename is not None and len(self.filename) > 1024:
            raise InvalidInput("filename is too long")
        if self.kind is not None and len(self.kind) > 64:
            raise InvalidInput("kind must be at most 64 characters")
        mediatypes.normalise(self.media_type)
        freetext.check_line("title", self.title)
        freetext.check_line("kind", self.kind)
        freetext.check_text("notes", self.notes)
        texts = (self.title, self.filename, self.media_type, self.notes, self.kind)
        if any(t is not None and "\x00" in t for t in texts):
            raise InvalidInput("text fields must not contain NUL characters")


@dataclass(frozen=True)
class DocumentMetadata:
    """The sealed record, as a reader sees it once opened."""

    title: str
    filename: str | None
    media_type: str
    notes: str | None
    source_id: UUID | None
    kind: str | None
    sha256: str
    size: int
    # The original a redacted export was made from: sealed like the rest, so the link between
    # a shareable version and its source document is visible to readers only.
    derived_from: UUID | None = None

    def to_bytes(self) -> bytes:
        data = asdict(self)
        for name in _UUID_FIELDS:
            data[name] = str(data[name]) if data[name] else None
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> DocumentMetadata:
        data = json.loads(raw)
        for name in _UUID_FIELDS:
            # Records sealed before a field existed simply lack it.
            data[name] = UUID(data[name]) if data.get(name) else None
        return cls(**data)


_UUID_FIELDS = ("source_id", "derived_from")


@dataclass(frozen=True)
class DocumentInfo:
    """A document as one reader sees it; ``metadata`` is ``None`` while their grant is pending."""

    id: UUID
    case_id: UUID
    uploader_id: UUID
    created_at: datetime
    ciphertext_size: int
    status: str
    metadata: DocumentMetadata | None
    # The access-log entry that recorded the upload, on the answer to an upload only: the
    # uploader's receipt, for which they can later ask an inclusion proof.
    receipt: audit.Receipt | None = None

    @property
    def pending(self) -> bool:
        return self.metadata is None


class DocumentService:
    """Document operations, each checking the actor's reach itself: a document outside it is
    ``NotFound``, exactly like one that does not exist."""

    def __init__(
        self, *, engine: Engine, blobs: BlobStore, clock: Clock, segment_size: int
    ) -> None:
        self._engine = engine
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
        with Session(self._engine) as db:
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
        try:
            row, receipt = self._record(
                actor,
                case_id,
                doc_id,
                data_key,
                blob.blob_id,
                blob.size,
                meta,
                stored.hexdigest(),
            )
        except BaseException:
            self._blobs.delete(blob.blob_id)
            raise
        return replace(_info(row, meta), receipt=receipt)

    def _record(
        self,
        actor: Actor,
        case_id: UUID,
        doc_id: UUID,
        data_key: bytes,
        blob_id: str,
        ciphertext_size: int,
        meta: DocumentMetadata,
        ciphertext_sha256: str,
    ) -> tuple[Document, audit.Receipt]:
        try:
            with Session(self._engine, expire_on_commit=False) as db:
                row = Document(
                    id=doc_id,
                    case_id=case_id,
                    uploader_id=actor.user_id,
                    blob_id=blob_id,
                    ciphertext_size=ciphertext_size,
                    created_at=self._clock(),
                    sealed_metadata=crypto.seal_record(
                        data_key, meta.to_bytes(), label=_METADATA_LABEL, subject_id=doc_id
                    ),
                )
                db.add(row)
                # Recipients are read in the same transaction as the insert, so a member added
                # while the upload streamed is not missed.
                keyring.store_wrapped(
                    db,
                    kind=keyring.DOCUMENT,
                    subject_id=doc_id,
                    data_key=data_key,
                    recipients=keyring.case_recipients(db, case_id, also=actor.user_id),
                    clock=self._clock,
                )
                index = audit.record(
                    db,
                    "document.upload",
                    actor.user_id,
                    clock=self._clock,
                    extra={"ciphertext_sha256": ciphertext_sha256},
                    document=doc_id,
                    case=case_id,
                )
                receipt = audit.receipt(db, index)
                audit.commit(db)
                return row, receipt
        except SQLAlchemyError as exc:
            log.debug("document metadata write failed: %s", type(exc).__name__)
            raise StorageError("the document could not be recorded in the database") from None

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
        with Session(self._engine, expire_on_commit=False) as db:
            row = self._visible(db, actor, document_id)
            data_key = self._data_key(db, row, actor)
            info = _info(row, open_metadata(row, data_key) if data_key else None)
            audit.record(
                db,
                "document.metadata.read",
                actor.user_id,
                clock=self._clock,
                document=row.id,
                case=row.case_id,
            )
            audit.commit(db)
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
        with Session(self._engine, expire_on_commit=False) as db:
            if not is_member(db, case_id, actor.user_id):
                raise NotFound("no such case")
            infos: list[DocumentInfo] = []
            batch = max(limit or 200, 50)
            while limit is None or len(infos) < limit:
                stmt = select(Document).where(Document.case_id == case_id)
                if after is not None:
                    created, last_id = after
                    stmt = stmt.where(
                        (col(Document.created_at) > created)
                        | ((col(Document.created_at) == created) & (col(Document.id) > last_id))
                    )
                rows = db.exec(
                    stmt.order_by(col(Document.created_at), col(Document.id)).limit(batch)
                ).all()
                for row in rows:
                    after = (row.created_at, row.id)
                    data_key = self._data_key(db, row, actor)
                    meta = open_metadata(row, data_key) if data_key else None
                    if source_id is not None and (meta is None or meta.source_id != source_id):
                        continue
                    infos.append(_info(row, meta))
                    if limit is not None and len(infos) == limit:
                        break
                if len(rows) < batch:
                    break
            # Recorded after the reads: on SQLite the first write holds the database's write
            # lock until the commit, and other requests would wait behind this page's
            # decryption. Nothing is returned before the entry commits.
            audit.record(db, "document.list", actor.user_id, clock=self._clock, case=case_id)
            audit.commit(db)
            return infos

    def open(self, actor: Actor, document_id: UUID) -> tuple[DocumentInfo, Iterator[bytes]]:
        """Metadata and a lazy plaintext stream. The stream raises ``IntegrityError`` at the
        first segment that fails authentication, before yielding any byte of it."""
        with Session(self._engine, expire_on_commit=False) as db:
            row, data_key = self.readable(db, actor, document_id)
            audit.record(
                db,
                "document.content.read",
                actor.user_id,
                clock=self._clock,
                document=row.id,
                case=row.case_id,
            )
            audit.commit(db)
        # Only once the entry is committed: no read happens without its record.
        return self._stream(row, data_key)

    def open_with_recovery_key(
        self, recovery_key: PrivateKey, document_id: UUID
    ) -> tuple[DocumentInfo, Iterator[bytes]]:
        """Read any document with the organisation recovery key rebuilt from its shares."""
        with Session(self._engine, expire_on_commit=False) as db:
            if db.get(RecoveryKey, recovery_key.public_key().key_id) is None:
                raise IntegrityError("that is not this vault's recovery key", reason="key-id")
            row = db.get(Document, document_id)
            if row is None:
                raise NotFound("no such document")
            data_key = keyring.open_data_key(
                db, kind=keyring.DOCUMENT, subject_id=row.id, key=recovery_key
            )
            if data_key is None:
                raise IntegrityError("document key is not wrapped for recovery", reason="key-id")
            audit.record(
                db,
                "recovery.used",
                "recovery",
                clock=self._clock,
                document=row.id,
                case=row.case_id,
                recovery_key=recovery_key.public_key().key_id,
            )
            audit.commit(db)
        # Only once the entry is committed: no read happens without its record.
        return self._stream(row, data_key)

    def readable(self, db: Session, actor: Actor, document_id: UUID) -> tuple[Document, bytes]:
        """The document's row and data key for ``actor``: ``NotFound`` outside their reach,
        ``Conflict`` while their grant is pending. Records nothing: callers log their read."""
        row = self._visible(db, actor, document_id)
        data_key = self._data_key(db, row, actor)
        if data_key is None:
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
        return _info(row, meta), crypto.decrypt_stream(data_key, row.id, chunks)

    # -- deleting ----------------------------------------------------------------------------

    def delete(self, actor: Actor, document_id: UUID) -> None:
        """Crypto-shred: every wrapped copy of the key and the metadata row go in one
        transaction, then the ciphertext. Editors and administrators of the case only;
        ``LegalHold`` while the document or its case is under legal hold."""
        with Session(self._engine) as db:
            row = self._visible(db, actor, document_id)
            # Destroying material is for editors and administrators a reader approved (one who
            # added themselves, awaiting approval, cannot shred what they cannot read).
            if actor.role not in (Role.EDITOR, Role.ADMIN) or not grants.is_approved(
                db, row.case_id, actor.user_id
            ):
                raise NotFound("no such document")
            # The entry first: its write serialises this transaction with every other audited
            # change, so that ``shred`` sees a hold set meanwhile.
            audit.record(
                db,
                "document.delete",
                actor.user_id,
                clock=self._clock,
                document=row.id,
                case=row.case_id,
            )
            blob_id = shred(db, row.id)
            audit.commit(db)
        discard_blobs(self._engine, self._blobs, [blob_id])


def shred(db: Session, document_id: UUID) -> str:
    """Delete a document's wrapped keys, its redactions and its row in ``db``'s transaction
    (not committed), and return its blob id, for :func:`discard_blobs` once that commits.

    Call it after the transaction's access-log entry is recorded: that write serialises it with
    every other audited change (``vault.audit.log``), so the row and holds read here are
    current. ``NotFound`` if the document is gone already (a concurrent shred), ``LegalHold``
    if it or its case is under legal hold: a hold stops every deletion."""
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


def open_metadata(row: Document, data_key: bytes) -> DocumentMetadata:
    raw = crypto.open_record(
        data_key, row.sealed_metadata, label=_METADATA_LABEL, subject_id=row.id
    )
    return DocumentMetadata.from_bytes(raw)


def _info(row: Document, meta: DocumentMetadata | None) -> DocumentInfo:
    return DocumentInfo(
        id=row.id,
        case_id=row.case_id,
        uploader_id=row.uploader_id,
        created_at=row.created_at,
        ciphertext_size=row.ciphertext_size,
        status=row.status,
        metadata=meta,
    )
