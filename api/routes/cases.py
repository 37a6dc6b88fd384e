"""Cases and their members."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, SessionActor, VaultDep
from api.routes import problems
from api.schemas import CaseCreate, CaseList, CasePublic, MemberRequest

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.post("", status_code=201, response_model=CasePublic, responses=problems(401, 404, 409, 422))
async def create_case(body: CaseCreate, actor: SessionActor, vault: VaultDep) -> CasePublic:
    """Create a case (administrators). Case names are stored in the clear: use code names."""
    case = await run_in_threadpool(vault.cases.create, actor, body.name)
    return CasePublic(id=case.id, name=case.name, created_at=case.created_at, members=[])


@router.get("", response_model=CaseList, responses=problems(401, 404))
async def list_cases(actor: Reader, vault: VaultDep) -> CaseList:
    """Your cases (every case, for administrators)."""
    rows = await run_in_threadpool(vault.cases.visible, actor)
    return CaseList(cases=[CasePublic(id=c.id, name=c.name, created_at=c.created_at) for c in rows])


@router.get("/{case_id}", response_model=CasePublic, responses=problems(401, 404))
async def get_case(case_id: UUID, actor: Reader, vault: VaultDep) -> CasePublic:
    """A case and its members."""
    case, members = await run_in_threadpool(vault.cases.get, actor, case_id)
    return CasePublic(
        id=case.id,
        name=case.name,
        created_at=case.created_at,
        members=[u.username for u in members],
    )


@router.post("/{case_id}/members", status_code=204, responses=problems(401, 404, 409, 422))
async def add_member(
    case_id: UUID, body: MemberRequest, actor: SessionActor, vault: VaultDep
) -> Response:
    """Add a member (administrators). Documents stored from now on are readable by them at
    once; older ones stay pending until a current member's next action grants them."""
    await run_in_threadpool(vault.cases.add_member, actor, case_id, body.username)
    return Response(status_code=204)


@router.delete("/{case_id}/members/{username}", status_code=204, responses=problems(401, 404))
async def remove_member(
    case_id: UUID, username: str, actor: SessionActor, vault: VaultDep
) -> Response:
    """Remove a member (administrators): their wrapped keys for the case are deleted."""
    await run_in_threadpool(vault.cases.remove_member, actor, case_id, username)
    return Response(status_code=204)


@router.delete("/{case_id}/members", status_code=204, responses=problems(401, 404, 422))
async def remove_member_by_body(
    case_id: UUID, body: MemberRequest, actor: SessionActor, vault: VaultDep
) -> Response:
    """The same as ``DELETE /v1/cases/{id}/members/{username}``, naming the user in the body."""
    await run_in_threadpool(vault.cases.remove_member, actor, case_id, body.username)
    return Response(status_code=204)
