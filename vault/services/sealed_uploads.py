"""Uploads that an end-to-end client encrypted itself: the server never sees their plaintext,
their key or their metadata.

The client asks who the case's recipients are (``recipients``), checks each one's key against
the access log (``vault.audit.transparency``), then sends the content stream it encrypted, the
copies of the data key it wrapped, and the metadata record it sealed. The server checks what
can be checked without the key (``crypto.check_ciphertext``: the stream's header, length and
commitment; one copy of the key for exactly each current recipient, of the right size; a
creation time close to its own clock, which the sealed record is bound to) and records the
document like any other upload, in the same group commits. Whether the segments, the copies
and the record really open under that key, and whether the content has the digest the record
states, only a recipient can tell: a segment, copy or record that does not authenticate fails
wherever it is opened, and the ``vault`` client compares the content with the record's digest
(``vault.cli.remote.sealed_read``; ``Repr-Digest`` in a server-side session).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.engine import Engine

from vault import crypto
from vault.audit import log as audit
from vault.clock import Clock
from vault.errors import Conflict, InvalidInput, NotFound
from vault.services import keyring
from vault.services.grants import is_member
from vault.services.uow import UnitOfWork
from vault.services.upload_batch import ClientSealed, UploadRecorder
from vault.services.users import Actor
from vault.storage.blobstore import BlobStore
from vault.storage.models import Document
from vault.storage.pipeline import put_pipelined

__all__ = [
    "CLOCK_SKEW",
    "MAX_SEALED_METADATA",
    "Recipient",
    "Recipients",
    "SealedStored",
    "SealedUpload",
    "SealedUploadService",
]

# How far the creation time a client seals into the record may be from the server's clock when
# the upload starts: it is what the document is listed by, so it must be about right.
CLOCK_SKEW = timedelta(minutes=5)
# A sealed record holds at most a 500-character title, 64 KiB of notes and a few fixed fields.
MAX_SEALED_METADATA = 192 * 1024
_COMMITMENT_SIZE = 32


@dataclass(frozen=True)
class Recipient:
    username: str
    user_id: UUID
    key_id: str


@dataclass(frozen=True)
class Recipients:
    """Whom a new document of a case must be wrapped for, and the server's time to seal in."""

    now: datetime
    members: list[Recipient]
    recovery_key_id: str


@dataclass(frozen=True)
class SealedUpload:
    """What a client says of the upload before its content: the id and time it sealed into
    the stream and the record, its key's commitment, and the key's wrapped copies by key id."""

    document_id: UUID
    created_at: datetime
    key_commitment: bytes
    wrapped: Mapping[str, bytes]


@dataclass(frozen=True)
class SealedStored:
    id: UUID
    case_id: UUID
    created_at: datetime
    ciphertext_size: int
    ciphertext_sha256: str
    receipt: audit.Receipt


class SealedUploadService:
    def __init__(
        self, *, engine: Engine, blobs: BlobStore, clock: Clock, recorder: UploadRecorder
    ) -> None:
        self._uow = UnitOfWork(engine, clock)
        self._blobs = blobs
        self._clock = clock
        self._recorder = recorder

    def recipients(self, actor: Actor, case_id: UUID) -> Recipients:
        """The case's recipients as ``keyring.case_recipients`` counts them, with the caller
        among them; ``NotFound`` outside the caller's cases."""
        with self._uow.read() as db:
            if not is_member(db, case_id, actor.user_id):
                raise NotFound("no such case")
            members = [
                Recipient(user.username, user.id, user.key_id or "")
                for user in keyring.case_readers(db, case_id, also=actor.user_id)
            ]
            recovery = keyring.active_recovery_key(db)
        return Recipients(self._clock(), members, recovery.key_id)

    def add(
        self,
        actor: Actor,
        *,
        case_id: UUID,
        upload: SealedUpload,
        ciphertext: Iterable[bytes],
        sealed_metadata: Callable[[], bytes],
        max_size: int | None = None,
    ) -> SealedStored:
        """Store ``ciphertext`` as document ``upload.document_id`` of ``case_id``, checked as
        the module docstring says. ``sealed_metadata`` is asked for once the content is
        stored (a client knows the plaintext's digest only after it encrypted the last
        byte). The blob is written before the record commits and removed if it does not."""
        self._check(actor, case_id, upload)
        stored = hashlib.sha256()
        checked = crypto.check_ciphertext(
            ciphertext,
            document_id=upload.document_id,
            commitment=upload.key_commitment,
            max_plaintext=max_size,
        )
        blob = put_pipelined(self._blobs, checked, observe=stored.update)
        try:
            record = sealed_metadata()
            if not 0 < len(record) <= MAX_SEALED_METADATA:
                raise InvalidInput(
                    f"the sealed metadata record must be 1 to {MAX_SEALED_METADATA} bytes"
                )
            sealing = ClientSealed(
                upload.created_at, upload.key_commitment, record, dict(upload.wrapped)
            )
            row, receipt = self._recorder.record(
                self._recorder.stored(
                    actor,
                    case_id=case_id,
                    doc_id=upload.document_id,
                    sealing=sealing,
                    blob_id=blob.blob_id,
                    ciphertext_size=blob.size,
                    ciphertext_sha256=stored.hexdigest(),
                )
            )
        except BaseException:
            self._blobs.delete(blob.blob_id)
            raise
        return SealedStored(
            row.id, row.case_id, row.created_at, row.ciphertext_size, stored.hexdigest(), receipt
        )

    def _check(self, actor: Actor, case_id: UUID, upload: SealedUpload) -> None:
        """What can be refused before a byte of content is read."""
        if upload.document_id.version != 4 or upload.document_id == uuid.UUID(int=0):
            raise InvalidInput("a document id is a random (version 4) UUID")
        if len(upload.key_commitment) != _COMMITMENT_SIZE:
            raise InvalidInput(f"a key commitment is {_COMMITMENT_SIZE} bytes")
        if any(len(copy) != crypto.WRAPPED_KEY_SIZE for copy in upload.wrapped.values()):
            raise InvalidInput(f"a wrapped key is {crypto.WRAPPED_KEY_SIZE} bytes")
        now = self._clock()
        if upload.created_at.tzinfo is None or abs(upload.created_at - now) > CLOCK_SKEW:
            raise InvalidInput(
                "created_at must be the server's time (from the recipients answer), within "
                f"{int(CLOCK_SKEW.total_seconds() // 60)} minutes"
            )
        with self._uow.read() as db:
            if not is_member(db, case_id, actor.user_id):
                raise NotFound("no such case")
            if db.get(Document, upload.document_id) is not None:
                raise Conflict("a document with this id exists already")
            recipients = keyring.case_recipients(db, case_id, also=actor.user_id)
        # Checked again when the record is written, in its transaction.
        keyring.require_recipients(upload.wrapped, recipients)
