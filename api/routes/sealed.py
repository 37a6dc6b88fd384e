"""A document as stored, for clients that hold their own key (end-to-end sessions): its sealed
metadata record with the caller's wrapped key, and its ciphertext, with byte ranges."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, VaultDep
from api.routes import problems
from api.routes.documents import decode_cursor, encode_cursor
from vault.errors import RangeNotSatisfiable
from vault.services.documents import SealedDocument

router = APIRouter(prefix="/v1/documents", tags=["documents"])
by_case = APIRouter(prefix="/v1/cases", tags=["documents"])
routers = (router, by_case)
Cursor = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern="^[A-Za-z0-9_-]+$",
        description="from a previous page (next_cursor): opaque, base64url",
    ),
]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class SealedDocumentPublic(BaseModel):
    id: UUID
    case_id: UUID
    uploader_id: UUID
    created_at: datetime
    ciphertext_size: int
    status: str
    key_commitment: str | None = Field(description="base64 (docs/format.md §2.3); null: v1")
    sealed_metadata: str = Field(description="base64: the metadata record (§5.1) as stored")
    recipient_key_id: str = Field(description="your key's id: the one `wrapped_key` is for")
    wrapped_key: str | None = Field(
        description="base64: the document's data key wrapped for your key (§3); null while "
        "your access is pending"
    )


class SealedDocumentList(BaseModel):
    documents: list[SealedDocumentPublic]
    next_cursor: str | None = None


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def sealed_public(found: SealedDocument) -> SealedDocumentPublic:
    info = found.info
    return SealedDocumentPublic(
        id=info.id,
        case_id=info.case_id,
        uploader_id=info.uploader_id,
        created_at=info.created_at,
        ciphertext_size=info.ciphertext_size,
        status=info.status,
        key_commitment=_b64(found.key_commitment),
        sealed_metadata=_b64(found.sealed_metadata) or "",
        recipient_key_id=found.recipient_key_id,
        wrapped_key=_b64(found.wrapped_key),
    )


@by_case.get(
    "/{case_id}/sealed-documents",
    response_model=SealedDocumentList,
    responses=problems(401, 404, 422),
)
async def list_sealed(
    case_id: UUID,
    actor: Reader,
    vault: VaultDep,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SealedDocumentList:
    """A case's documents as stored, oldest first, a page at a time, as `GET /v1/documents`
    pages them: each with its sealed record and its data key wrapped for you (`null` while
    pending), to open with your own key. Logged as a listing (`mode` `end-to-end`)."""
    after = decode_cursor(cursor) if cursor else None
    found = await run_in_threadpool(
        lambda: vault.documents.list_sealed(actor, case_id, after=after, limit=limit + 1)
    )
    page = found[:limit]
    more = len(found) > limit
    return SealedDocumentList(
        documents=[sealed_public(f) for f in page],
        next_cursor=encode_cursor(page[-1].info) if more and page else None,
    )


@router.get(
    "/{document_id}/sealed",
    response_model=SealedDocumentPublic,
    responses=problems(401, 404),
)
async def get_sealed(document_id: UUID, actor: Reader, vault: VaultDep) -> SealedDocumentPublic:
    """The document as stored, to open with your own key: its metadata record, sealed, and
    the data key wrapped for you. Logged as a metadata read (`mode` `end-to-end`)."""
    return sealed_public(await run_in_threadpool(vault.documents.sealed, actor, document_id))


def _wanted(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """The one byte range asked for, as ``(first, last)``; ``None`` for the whole (no header,
    or one this route does not serve parts for: several ranges, another unit); ``False`` for
    a range that no byte of ``size`` satisfies (RFC 9110 §14.1.2)."""
    found = _RANGE.match(header.strip()) if header else None
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.group(1), found.group(2)
    if first == "":
        suffix = int(last)
        return (max(0, size - suffix), size - 1) if suffix and size else False
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return False
    return start, end


def _limited(chunks: Iterator[bytes], length: int) -> Iterator[bytes]:
    left = length
    for chunk in chunks:
        if left <= 0:
            break
        piece = chunk[:left]
        left -= len(piece)
        yield piece


@router.get(
    "/{document_id}/ciphertext",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The stored ciphertext (docs/format.md §2), whole",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        206: {"description": "The byte range asked for with `Range: bytes=first-last`"},
        **problems(401, 404, 409, 416, 503),
    },
)
async def get_ciphertext(
    document_id: UUID,
    actor: Reader,
    vault: VaultDep,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """The document's ciphertext as stored, for a client that decrypts (and authenticates)
    it itself: whole, or one byte range (`Range: bytes=first-last`, `bytes=first-`,
    `bytes=-suffix`). Each request is logged as a content read (`mode` `end-to-end`). 409
    while your access is pending."""
    stored = await run_in_threadpool(vault.documents.ciphertext, actor, document_id)
    found = stored.size
    wanted = _wanted(range_, found)
    if wanted is False:
        raise RangeNotSatisfiable(found)
    first, last = wanted if isinstance(wanted, tuple) else (0, found - 1)
    chunks = await run_in_threadpool(stored.read_from, first)
    length = last - first + 1 if found else 0
    headers = {"Content-Length": str(length), "Accept-Ranges": "bytes"}
    if isinstance(wanted, tuple):
        headers["Content-Range"] = f"bytes {first}-{last}/{found}"
    return StreamingResponse(
        _limited(chunks, length),
        status_code=206 if isinstance(wanted, tuple) else 200,
        media_type="application/octet-stream",
        headers=headers,
    )
