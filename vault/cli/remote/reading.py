"""Where a document's bytes come from: the server's decryption in a server-side session, this
machine's in an end-to-end one (``vault.cli.remote.sealed_read``). ``vault docs get`` and
``vault docs read`` ask here, and do the same with either."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from vault.cli.client import Client
from vault.cli.remote import sealed_read
from vault.cli.remote.transfer import content_length, verified_download
from vault.errors import Conflict

__all__ = ["Content", "content", "filename", "metadata", "public"]


@dataclass(frozen=True)
class Content:
    media_type: str
    size: int | None  # as declared before the body; checked at its end
    body: Iterator[bytes]


@contextmanager
def content(client: Client, document_id: str) -> Iterator[Content]:
    """The document's plaintext. Its body raises at the end if it was not what was stored
    (the server's digest, or, end to end, the record's)."""
    if client.key is None:
        path = f"/v1/documents/{document_id}/content"
        with verified_download(client, path) as (response, body):
            media_type = response.headers.get("x-content-media-type", "application/octet-stream")
            yield Content(media_type, content_length(response), body)
        return
    opened = sealed_read.open_document(client, client.key, document_id)
    with sealed_read.plaintext(client, opened) as body:
        yield Content(opened.metadata.media_type, opened.metadata.size, body)


def filename(client: Client, document_id: str) -> str | None:
    """The filename the uploader gave, if any; ``Conflict`` while access is pending."""
    if client.key is not None:
        return sealed_read.open_document(client, client.key, document_id).metadata.filename
    meta = client.get(f"/v1/documents/{document_id}")
    if meta.get("pending"):
        raise Conflict("access to this document is pending: a case member must grant it")
    name = meta.get("filename")
    return None if name is None else str(name)


def metadata(client: Client, document_id: str) -> dict[str, Any]:
    """The document's metadata in the shape of ``GET /v1/documents/{id}``: the server's answer,
    or, end to end, the record opened here."""
    if client.key is None:
        found: dict[str, Any] = client.get(f"/v1/documents/{document_id}")
        return found
    return public(sealed_read.open_document(client, client.key, document_id))


def public(opened: sealed_read.OpenedDocument) -> dict[str, Any]:
    """A document opened here, in the shape the server gives a document it opened."""
    meta = opened.metadata
    return {
        "id": str(opened.id),
        "case": str(opened.case_id),
        "uploader": str(opened.uploader_id),
        "created_at": opened.created_at.isoformat().replace("+00:00", "Z"),
        "pending": False,
        "title": meta.title,
        "filename": meta.filename,
        "media_type": meta.media_type,
        "kind": meta.kind,
        "notes": meta.notes,
        "source": None if meta.source_id is None else str(meta.source_id),
        "size": meta.size,
        "sha256": meta.sha256,
        "derived_from": None if meta.derived_from is None else str(meta.derived_from),
    }
