"""Legal holds on cases and documents. Each route is for editors a reader approved in the
case, and administrators, at a login session; to anyone else it answers 404."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import SessionActor, VaultDep
from api.routes import problems
from api.schemas.cases import HoldPublic
from vault.services.holds import Hold

router = APIRouter(tags=["holds"])


def _public(hold: Hold) -> HoldPublic:
    return HoldPublic(target=hold.target, id=hold.id, held_at=hold.held_at, changed=hold.changed)


@router.put("/v1/cases/{case_id}/hold", response_model=HoldPublic, responses=problems(401, 404))
async def hold_case(case_id: UUID, actor: SessionActor, vault: VaultDep) -> HoldPublic:
    """Put a case under legal hold: none of its documents is deleted, by retention or by
    anyone, until the hold is released (approved editors of the case and
    administrators)."""
    hold = await run_in_threadpool(lambda: vault.holds.set_case(actor, case_id, held=True))
    return _public(hold)


@router.delete("/v1/cases/{case_id}/hold", response_model=HoldPublic, responses=problems(401, 404))
async def release_case(case_id: UUID, actor: SessionActor, vault: VaultDep) -> HoldPublic:
    """Release a case's legal hold (documents held one by one stay held; approved editors of
    the case and administrators)."""
    hold = await run_in_threadpool(lambda: vault.holds.set_case(actor, case_id, held=False))
    return _public(hold)


@router.put(
    "/v1/documents/{document_id}/hold", response_model=HoldPublic, responses=problems(401, 404)
)
async def hold_document(document_id: UUID, actor: SessionActor, vault: VaultDep) -> HoldPublic:
    """Put one document under legal hold: it is not deleted, by retention or by anyone, until
    the hold is released."""
    hold = await run_in_threadpool(lambda: vault.holds.set_document(actor, document_id, held=True))
    return _public(hold)


@router.delete(
    "/v1/documents/{document_id}/hold", response_model=HoldPublic, responses=problems(401, 404)
)
async def release_document(document_id: UUID, actor: SessionActor, vault: VaultDep) -> HoldPublic:
    """Release a document's own legal hold (a hold on its case still keeps it; approved editors
    of the case and administrators)."""
    hold = await run_in_threadpool(lambda: vault.holds.set_document(actor, document_id, held=False))
    return _public(hold)
