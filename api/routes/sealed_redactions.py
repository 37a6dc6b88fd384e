"""Redactions proposed and reviewed end to end (vault.services.sealed_redactions)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, SessionActor, VaultDep
from api.routes import problems
from api.schemas.body import Body
from vault.errors import InvalidInput
from vault.redaction.model import Status
from vault.services.sealed_redactions import ClientExport, StoredRedaction

by_document = APIRouter(prefix="/v1/documents", tags=["redactions"])
by_redaction = APIRouter(prefix="/v1/redactions", tags=["redactions"])
routers = (by_document, by_redaction)

_B64 = r"^[A-Za-z0-9+/]*={0,2}$"


class SealedRedactionPublic(BaseModel):
    id: UUID
    document: UUID
    status: str
    proposer: UUID
    reviewer: UUID | None
    created_at: datetime
    reviewed_at: datetime | None
    sealed: str = Field(description="base64: the record (format §7), bound to the columns above")


class SealedRedactionList(BaseModel):
    redactions: list[SealedRedactionPublic]


class SealedProposal(Body):
    id: UUID = Field(description="a fresh random (version 4) id, sealed into the record")
    sealed: str = Field(pattern=_B64, max_length=360000)


class SealedExport(Body):
    ok: bool = Field(description="false: your release check refused the export (logged so)")
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="of what you release")
    redactions: list[UUID] = Field(
        default_factory=list, max_length=10000, description="the redactions you applied"
    )
    reason: str | None = Field(
        default=None, max_length=64, pattern="^[a-z0-9-]+$", description="a refusal's code"
    )


class ExportLogged(BaseModel):
    log_index: int
    log_entry: str = Field(description="the entry's canonical bytes, base64: your receipt")


class SealedReview(Body):
    status: Literal["approved", "rejected"]
    sealed: str = Field(pattern=_B64, max_length=360000)


def _public(found: StoredRedaction) -> SealedRedactionPublic:
    return SealedRedactionPublic(
        id=found.id,
        document=found.document_id,
        status=found.status,
        proposer=found.proposer_id,
        reviewer=found.reviewer_id,
        created_at=found.created_at,
        reviewed_at=found.reviewed_at,
        sealed=base64.b64encode(found.sealed).decode(),
    )


def _sealed(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("sealed must be base64") from None


@by_document.get(
    "/{document_id}/sealed-redactions",
    response_model=SealedRedactionList,
    responses=problems(401, 404, 409),
)
async def list_sealed_redactions(
    document_id: UUID, actor: Reader, vault: VaultDep
) -> SealedRedactionList:
    """A document's redactions as stored, oldest first, to open with the document's key on
    your machine (editors of its case). Logged as a listing."""
    found = await run_in_threadpool(vault.sealed_redactions.of_document, actor, document_id)
    return SealedRedactionList(redactions=[_public(r) for r in found])


@by_document.post(
    "/{document_id}/sealed-redactions",
    status_code=201,
    response_model=SealedRedactionPublic,
    responses=problems(401, 404, 409, 422),
)
async def propose_sealed(
    document_id: UUID, body: SealedProposal, actor: SessionActor, vault: VaultDep
) -> SealedRedactionPublic:
    """Propose a redaction whose record your client sealed (end to end): bound to this
    document, you as proposer, no reviewer and the status `proposed`."""
    found = await run_in_threadpool(
        vault.sealed_redactions.propose, actor, document_id, body.id, _sealed(body.sealed)
    )
    return _public(found)


@by_document.post(
    "/{document_id}/sealed-export",
    status_code=201,
    response_model=ExportLogged,
    responses=problems(401, 404, 409, 422),
)
async def log_sealed_export(
    document_id: UUID, body: SealedExport, actor: SessionActor, vault: VaultDep
) -> ExportLogged:
    """Record a redacted export your client made (end to end) before you release it: refused
    unless the access log verifies and holds the document's redactions as they are, none is
    proposed, and you applied every approved one. The entry is your receipt."""
    made = ClientExport(
        ok=body.ok, sha256=body.sha256, applied=frozenset(body.redactions), reason=body.reason
    )
    receipt = await run_in_threadpool(vault.sealed_redactions.log_export, actor, document_id, made)
    return ExportLogged(log_index=receipt.index, log_entry=base64.b64encode(receipt.leaf).decode())


@by_redaction.post(
    "/{redaction_id}/sealed-review",
    response_model=SealedRedactionPublic,
    responses=problems(401, 404, 409, 422),
)
async def review_sealed(
    redaction_id: UUID, body: SealedReview, actor: SessionActor, vault: VaultDep
) -> SealedRedactionPublic:
    """Approve or reject a proposed redaction with the record your client sealed for its new
    state (you as reviewer). The four-eyes rule holds as for `/approve`."""
    found = await run_in_threadpool(
        vault.sealed_redactions.review,
        actor,
        redaction_id,
        Status(body.status),
        _sealed(body.sealed),
    )
    return _public(found)
