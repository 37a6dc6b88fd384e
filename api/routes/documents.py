"""Documents: streaming upload, listing, metadata, streaming download, crypto-shred."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, SessionActor, Uploader, VaultDep
from api.limits import Uploads
from api.multipart import StreamingForm
from api.routes import problems
from api.schemas.documents import DocumentCreated, DocumentList, DocumentPublic
from api.upload_body import multipart_boundary, store_upload
from vault import mediatypes
from vault.errors import Conflict, InvalidInput, StorageError
from vault.freetext import LINE_PATTERN, NONBLANK_LINE_PATTERN, TEXT_PATTERN
from vault.services.documents import DocumentInfo, DocumentMetadata, NewDocument

router = APIRouter(prefix="/v1/documents", tags=["documents"])

_FIELDS = {"case", "title", "source", "kind", "notes"}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["case", "title", "file"],
                    "additionalProperties": False,
                    "properties": {
                        "case": {"type": "string", "format": "uuid"},
                        "title": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 500,
                            "pattern": NONBLANK_LINE_PATTERN,
                        },
                        "source": {"type": "string", "format": "uuid"},
                        "kind": {"type": "string", "maxLength": 64, "pattern": LINE_PATTERN},
                        "notes": {"type": "string", "maxLength": 65536, "pattern": TEXT_PATTERN},
                        "file": {"type": "string", "format": "binary"},
                    },
                },
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
        },
    }
}


def uuid_field(fields: dict[str, str], name: str, *, required: bool) -> UUID | None:
    raw = fields.get(name, "").strip()
    if not raw:
        if required:
            raise InvalidInput(f"field '{name}' is required")
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidInput(f"field '{name}' must be a UUID") from None


@router.post(
    "",
    status_code=201,
    response_model=DocumentCreated,
    responses=problems(401, 404, 408, 413, 415, 422, 429, 503),
    openapi_extra=_UPLOAD_BODY,
)
async def upload(
    request: Request, actor: Uploader, vault: VaultDep, uploads: Uploads
) -> DocumentCreated:
    """Upload a document into a case you belong to: ``multipart/form-data`` with the fields
    ``case``, ``title`` and optionally ``source``, ``kind``, ``notes``, then the ``file`` part
    (last). The body is encrypted as it arrives; nothing is written in the clear, not even to
    a temporary file."""
    limit = vault.settings.max_upload_bytes
    boundary = multipart_boundary(request, limit)

    def store(body: Iterator[bytes]) -> DocumentInfo:
        fields, file = StreamingForm(body, boundary).read()
        unknown = sorted(set(fields) - _FIELDS)
        if unknown:
            raise InvalidInput(f"unknown field '{unknown[0]}'")
        case_id = uuid_field(fields, "case", required=True) or UUID(int=0)
        document = NewDocument(
            title=fields.get("title", ""),
            filename=file.filename,
            # Checked and put in one form by the service (vault.mediatypes), before any byte
            # of the file is read.
            media_type=file.content_type or mediatypes.DEFAULT,
            notes=fields.get("notes") or None,
            source_id=uuid_field(fields, "source", required=False),
            kind=fields.get("kind") or None,
        )
        return vault.documents.add(
            actor, case_id=case_id, content=file.chunks, document=document, max_size=limit
        )

    info = await store_upload(request, uploads, actor.user_id, store)
    meta = _opened(info)
    if info.receipt is None:  # add() always sets it; checked rather than assumed
        raise StorageError("the upload has no access-log entry")
    return DocumentCreated(
        id=info.id,
        size=meta.size,
        sha256=meta.sha256,
        case=info.case_id,
        created_at=info.created_at,
        log_index=info.receipt.index,
        log_entry=base64.b64encode(info.receipt.leaf).decode(),
    )


def _opened(info: DocumentInfo) -> DocumentMetadata:
    if info.metadata is None:  # these calls open the metadata; pending never reaches here
        raise Conflict("access to this document is pending")
    return info.metadata


def _public(info: DocumentInfo) -> DocumentPublic:
    doc = DocumentPublic(
        id=info.id,
        case=info.case_id,
        uploader=info.uploader_id,
        created_at=info.created_at,
        pending=info.pending,
    )
    meta = info.metadata
    if meta is not None:
        doc = doc.model_copy(
            update={
                "title": meta.title,
                "filename": meta.filename,
                "media_type": mediatypes.sendable(meta.media_type),
                "kind": meta.kind,
                "notes": meta.notes,
                "source": meta.source_id,
                "size": meta.size,
                "sha256": meta.sha256,
                "derived_from": meta.derived_from,
            }
        )
    return doc


def encode_cursor(info: DocumentInfo) -> str:
    raw = f"{info.created_at.isoformat()}|{info.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, doc_id = raw.split("|")
        parsed = datetime.fromisoformat(created)
        if parsed.tzinfo is None:
            raise ValueError
        # Stored times are UTC: a cursor at the calendar's edge (year 1 at +05:00, 9999 at
        # -05:00) has no UTC time, and failed where the query converted it.
        return parsed.astimezone(UTC), UUID(doc_id)
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error):
        raise InvalidInput("cursor is not valid") from None


@router.get("", response_model=DocumentList, responses=problems(401, 404, 422))
async def list_documents(
    actor: Reader,
    vault: VaultDep,
    case: Annotated[UUID, Query(description="case id")],
    source: Annotated[UUID | None, Query(description="only documents from this source")] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern="^[A-Za-z0-9_-]+$",
            description="from a previous page (next_cursor): opaque, base64url",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DocumentList:
    """A case's documents with their decrypted titles, oldest first, a page at a time.
    Documents whose key has not been granted to you yet are listed as ``pending``."""
    after = decode_cursor(cursor) if cursor else None
    infos = await run_in_threadpool(
        lambda: vault.documents.list(actor, case, source_id=source, after=after, limit=limit + 1)
    )
    more = len(infos) > limit
    page = infos[:limit]
    return DocumentList(
        documents=[_public(i) for i in page],
        next_cursor=encode_cursor(page[-1]) if more and page else None,
    )


@router.get("/{document_id}", response_model=DocumentPublic, responses=problems(401, 404))
async def get_document(document_id: UUID, actor: Reader, vault: VaultDep) -> DocumentPublic:
    """A document's metadata."""
    return _public(await run_in_threadpool(vault.documents.get, actor, document_id))


def content_disposition(filename: str | None) -> str:
    """``attachment`` with an ASCII fallback and the RFC 6266 / RFC 8187 UTF-8 name, stripped of
    paths, control characters and quotes."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" and ch != '"')
    name = name.strip(" .")[:200] or "document"
    # NFKD splits "ó" into "o" and a combining accent; dropping the accents keeps the letters.
    ascii_name = "".join(
        ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)
    )
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("_")
    if not fallback or fallback.startswith("."):
        fallback = "document" + (fallback if fallback.startswith(".") else "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get(
    "/{document_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The plaintext, streamed",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **problems(401, 404, 409, 500, 503),
    },
)
async def download(document_id: UUID, actor: Reader, vault: VaultDep) -> StreamingResponse:
    """The document's content, streamed as it is decrypted, with ``Repr-Digest`` (RFC 9530).
    If a segment fails authentication mid-stream, the response is cut off rather than
    completed: a client must treat a short body as a failure."""
    info, stream = await run_in_threadpool(vault.documents.open, actor, document_id)
    meta = _opened(info)
    # The first segment is checked before any header goes out, so a blob that is wrong from
    # the start gets a proper error answer.
    first = await run_in_threadpool(next, stream, b"")

    def body() -> Iterator[bytes]:
        yield first
        yield from stream

    digest = base64.b64encode(bytes.fromhex(meta.sha256)).decode()
    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(meta.size),
            "Content-Disposition": content_disposition(meta.filename),
            "Repr-Digest": f"sha-256=:{digest}:",
            # Never a value that was not checked: one stored before media types were checked
            # goes out as application/octet-stream.
            "X-Content-Media-Type": mediatypes.sendable(meta.media_type),
        },
    )


@router.delete("/{document_id}", status_code=204, responses=problems(401, 404, 409))
async def delete_document(document_id: UUID, actor: SessionActor, vault: VaultDep) -> Response:
    """Crypto-shred a document (editors and administrators of its case): every wrapped key
    and the ciphertext are destroyed. 409 `legal-hold` while it or its case is under legal
    hold."""
    await run_in_threadpool(vault.documents.delete, actor, document_id)
    return Response(status_code=204)
