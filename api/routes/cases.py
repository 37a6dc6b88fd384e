"""Cases and their members."""

from __future__ import annotations

from typing import Annotated, Literal, cast
from uuid import UUID

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, SessionActor, VaultDep
from api.routes import problems
from api.schemas.cases import (
    ApprovalPublic,
    AwaitingList,
    AwaitingMemberPublic,
    CaseChanged,
    CaseCreate,
    CaseList,
    CasePublic,
    CaseUpdate,
    MemberRemoval,
    MemberRequest,
    RemovalPublic,
    RetentionPublic,
    SourceHandoverPublic,
)
from vault.services.cases import KEEP, CaseInfo, Removal, Retention, RetentionChange

router = APIRouter(prefix="/v1/cases", tags=["cases"])


def _public(case: CaseInfo, members: list[str] | None = None) -> CasePublic:
    retention = None
    if case.retain_days is not None and case.retain_from is not None:
        start = cast(Literal["upload", "close"], case.retain_from)
        retention = RetentionPublic(days=case.retain_days, start=start)
    return CasePublic(
        id=case.id,
        name=case.name,
        created_at=case.created_at,
        members=members,
        retention=retention,
        closed_at=case.closed_at,
        held_at=case.held_at,
    )


@router.post("", status_code=201, response_model=CasePublic, responses=problems(401, 404, 409, 422))
async def create_case(body: CaseCreate, actor: SessionActor, vault: VaultDep) -> CasePublic:
    """Create a case (administrators). Case names are stored in the clear: use code names."""
    case = await run_in_threadpool(vault.cases.create, actor, body.name)
    return _public(case, [])


@router.get("", response_model=CaseList, responses=problems(401, 404))
async def list_cases(actor: Reader, vault: VaultDep) -> CaseList:
    """Your cases (every case, for administrators)."""
    rows = await run_in_threadpool(vault.cases.visible, actor)
    return CaseList(cases=[_public(c) for c in rows])


@router.get("/{case_id}", response_model=CasePublic, responses=problems(401, 404))
async def get_case(case_id: UUID, actor: Reader, vault: VaultDep) -> CasePublic:
    """A case and its members."""
    case, members = await run_in_threadpool(vault.cases.get, actor, case_id)
    return _public(case, members)


@router.patch("/{case_id}", response_model=CaseChanged, responses=problems(401, 404, 422))
async def update_case(
    case_id: UUID, body: CaseUpdate, actor: SessionActor, vault: VaultDep
) -> CaseChanged:
    """Set or clear the retention period, close or reopen the case (administrators). Left out
    fields stay as they are; `"retain_days": null` clears the period. `due_now` in the answer
    says how many documents the next retention run deletes."""
    retention: RetentionChange = KEEP
    if "retain_days" in body.model_fields_set:
        retention = (
            None
            if body.retain_days is None
            else Retention(body.retain_days, body.retain_from or "upload")
        )
    update = await run_in_threadpool(
        lambda: vault.cases.update(actor, case_id, retention=retention, closed=body.closed)
    )
    public = _public(update.case, update.members)
    return CaseChanged(**public.model_dump(), due_now=update.due_now)


@router.post("/{case_id}/members", status_code=204, responses=problems(401, 404, 409, 422))
async def add_member(
    case_id: UUID, body: MemberRequest, actor: SessionActor, vault: VaultDep
) -> Response:
    """Add a member (administrators). They are given no key of the case until a member who can
    read approves them (`POST /v1/cases/{id}/approvals`), except the first member of a case
    that holds nothing yet. The answer says which in `Vault-Member-Approval`
    (`awaiting` or `founding`)."""
    approved = await run_in_threadpool(vault.cases.add_member, actor, case_id, body.username)
    return Response(
        status_code=204, headers={"Vault-Member-Approval": "founding" if approved else "awaiting"}
    )


@router.get("/{case_id}/approvals", response_model=AwaitingList, responses=problems(401, 404))
async def list_awaiting(case_id: UUID, actor: SessionActor, vault: VaultDep) -> AwaitingList:
    """The members awaiting approval to read the case, with who added them and when."""
    rows = await run_in_threadpool(vault.cases.awaiting, actor, case_id)
    return AwaitingList(
        awaiting=[
            AwaitingMemberPublic(
                username=r.username,
                added_by=r.added_by,
                added_at=r.added_at,
                enrolled=r.enrolled,
                documents=r.documents,
            )
            for r in rows
        ]
    )


@router.post(
    "/{case_id}/approvals", response_model=ApprovalPublic, responses=problems(401, 404, 409, 422)
)
async def approve_member(
    case_id: UUID, body: MemberRequest, actor: SessionActor, vault: VaultDep
) -> ApprovalPublic:
    """Approve a member awaiting approval (members who can read the case): the case's document
    keys that you hold are wrapped for them now, and its new documents from now on."""
    wrapped = await run_in_threadpool(vault.cases.approve, actor, case_id, body.username)
    return ApprovalPublic(username=body.username, keys_wrapped=wrapped)


def _removal(removal: Removal) -> RemovalPublic:
    return RemovalPublic(
        username=removal.username,
        sources=[
            SourceHandoverPublic(
                source=h.source_id,
                pseudonym=h.pseudonym,
                handler=h.handler,
                awaiting_recovery=h.awaiting_recovery,
            )
            for h in removal.sources
        ],
    )


SourcesTo = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="who takes the sources the member handles: an approved member, or `recovery`",
    ),
]


@router.delete(
    "/{case_id}/members/{username}",
    response_model=RemovalPublic,
    responses=problems(401, 404, 409, 422),
)
async def remove_member(
    case_id: UUID,
    username: str,
    actor: SessionActor,
    vault: VaultDep,
    sources_to: SourcesTo = None,
) -> RemovalPublic:
    """Remove a member (administrators): their wrapped keys for the case are deleted, and the
    sources they handle go to `sources_to` (required if there are any; 409 says how many)."""
    removal = await run_in_threadpool(
        lambda: vault.cases.remove_member(actor, case_id, username, sources_to=sources_to)
    )
    return _removal(removal)


@router.delete(
    "/{case_id}/members", response_model=RemovalPublic, responses=problems(401, 404, 409, 422)
)
async def remove_member_by_body(
    case_id: UUID, body: MemberRemoval, actor: SessionActor, vault: VaultDep
) -> RemovalPublic:
    """The same as ``DELETE /v1/cases/{id}/members/{username}``, naming the user in the body."""
    removal = await run_in_threadpool(
        lambda: vault.cases.remove_member(actor, case_id, body.username, sources_to=body.sources_to)
    )
    return _removal(removal)
