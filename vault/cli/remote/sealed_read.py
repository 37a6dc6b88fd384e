"""Reading a document on this machine, with the key of an end-to-end session: the server sends
the document as stored (its sealed metadata record, the data key wrapped for this account, the
ciphertext), and everything is opened and authenticated here, segment by segment, exactly as
the server does in a server-side session (docs/format.md §2, §3, §5.1).

Nothing here trusts the server: the wrapped key must be for this key, the key's commitment
binds it to the document, the metadata record is bound to the clear columns the server sent,
and the plaintext must have the digest and size the record states.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from vault import crypto, document_record
from vault.cli.client import Client
from vault.crypto import PrivateKey
from vault.document_record import DocumentMetadata
from vault.errors import Conflict, IntegrityError

__all__ = ["DOCUMENT_KIND", "OpenedDocument", "open_document", "open_stored", "plaintext"]

DOCUMENT_KIND = "document"  # a document's wrapped key (docs/format.md §3)


@dataclass(frozen=True)
class OpenedDocument:
    """A document's record opened here, and what its content needs to be opened."""

    id: UUID
    case_id: UUID
    uploader_id: UUID
    created_at: datetime
    metadata: DocumentMetadata
    data_key: bytes
    commitment: bytes | None
    ciphertext_size: int

    def __repr__(self) -> str:
        return f"OpenedDocument(id={self.id}, data_key=<redacted>)"


def _refused(detail: str) -> IntegrityError:
    return IntegrityError(
        f"the server's copy of the document is not trustworthy: {detail}", reason="sealed"
    )


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise _refused("a field is not base64") from None


def open_document(client: Client, key: PrivateKey, document_id: str) -> OpenedDocument:
    """Fetch the document as stored and open its key and record with ``key``."""
    opened = open_stored(client.get(f"/v1/documents/{document_id}/sealed"), key)
    if opened is None:
        raise Conflict("access to this document is pending: a case member must grant it")
    if str(opened.id) != document_id:
        raise _refused("it is another document")
    return opened


def open_stored(body: Any, key: PrivateKey) -> OpenedDocument | None:
    """A document as the server stored it (an answer of ``/sealed``, or an item of a sealed
    listing), opened with ``key``; ``None`` while the caller's access is pending."""
    try:
        doc_id = UUID(str(body["id"]))
        created_at = datetime.fromisoformat(str(body["created_at"]))
        case_id, uploader_id = UUID(str(body["case_id"])), UUID(str(body["uploader_id"]))
        size = int(body["ciphertext_size"])
    except (KeyError, TypeError, ValueError):
        raise _refused("the record is malformed") from None
    if body.get("wrapped_key") is None:
        return None
    if body.get("recipient_key_id") != key.public_key().key_id:
        raise _refused("its key is wrapped for another key than yours")
    commitment = _b64(body["key_commitment"]) if body.get("key_commitment") else None
    data_key = crypto.unwrap_key(
        _b64(body["wrapped_key"]),
        key,
        kind=DOCUMENT_KIND,
        subject_id=doc_id,
        commitment=commitment,
    )
    bound = document_record.binding(
        case_id=case_id,
        uploader_id=uploader_id,
        created_at=created_at,
        key_commitment=commitment,
    )
    meta = document_record.open_sealed(
        data_key, _b64(body.get("sealed_metadata")), document_id=doc_id, bound=bound
    )
    return OpenedDocument(
        doc_id, case_id, uploader_id, created_at, meta, data_key, commitment, size
    )


@contextmanager
def plaintext(client: Client, opened: OpenedDocument) -> Iterator[Iterator[bytes]]:
    """The document's plaintext, decrypted here as its ciphertext arrives. Each segment is
    authenticated before any byte of it is yielded; at the end the whole must have the size
    and SHA-256 its record states (``IntegrityError`` otherwise), so a consumer that streams
    it on must check for an error at the end, as with any download."""
    with client.download(f"/v1/documents/{opened.id}/ciphertext") as (_, body):

        def checked() -> Iterator[bytes]:
            digest, size = hashlib.sha256(), 0
            stream = crypto.decrypt_stream(
                opened.data_key, opened.id, body, commitment=opened.commitment
            )
            for chunk in stream:
                digest.update(chunk)
                size += len(chunk)
                yield chunk
            if size != opened.metadata.size or digest.hexdigest() != opened.metadata.sha256:
                raise IntegrityError(
                    "the decrypted content does not match the size and SHA-256 its record states",
                    reason="digest",
                )

        yield checked()
