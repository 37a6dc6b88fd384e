"""Pseudonymous sources."""

from __future__ import annotations

import base64
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, SessionActor, VaultDep
from api.routes import problems
from api.schemas.sources import (
    HandoverRequest,
    SourceCreate,
    SourceIdentity,
    SourceList,
    SourcePublic,
)
from vault.errors import InvalidInput
from vault.freetext import LINE_PATTERN
from vault.services.sources import SourceInfo

router = APIRouter(prefix="/v1/sources", tags=["sources"])
Reason = Annotated[
    str,
    Query(
        min_length=3,
        max_length=500,
        pattern=LINE_PATTERN,
        description="why you need it: 3-500 characters once runs of spaces are one, on one "
        "line, without control characters",
    ),
]


def source_public(source: SourceInfo) -> SourcePublic:
    return SourcePublic(
        id=source.id,
        case=source.case_id,
        pseudonym=source.pseudonym,
        handler=source.handler_id,
        handover_pending=source.handover_pending,
        has_identity_notes=source.has_identity_notes,
        created_at=source.created_at,
    )


@router.post("", status_code=201, response_model=SourcePublic, responses=problems(401, 404, 422))
async def create_source(body: SourceCreate, actor: SessionActor, vault: VaultDep) -> SourcePublic:
    """Record a source in a case you belong to; you become its handler. Identity notes and the
    source's names and aliases (which redaction suggestions look for) are encrypted for you and
    the recovery key only."""
    source = await run_in_threadpool(vault.sources.create, actor, body.case, body.notes, body.names)
    return source_public(source)


@router.get("", response_model=SourceList, responses=problems(401, 404, 422))
async def list_sources(
    case: Annotated[UUID, Query(description="case id")], actor: Reader, vault: VaultDep
) -> SourceList:
    """The sources of a case (pseudonyms only)."""
    rows = await run_in_threadpool(vault.sources.in_case, actor, case)
    return SourceList(sources=[source_public(s) for s in rows])


@router.get(
    "/{source_id}/identity", response_model=SourceIdentity, responses=problems(401, 404, 422)
)
async def reveal_identity(
    source_id: UUID,
    reason: Reason,
    actor: Reader,
    vault: VaultDep,
) -> SourceIdentity:
    """A source's identity notes and names, for their handler only. A reason is required."""
    source, notes, names = await run_in_threadpool(
        lambda: vault.sources.identity(actor, source_id, reason=reason)
    )
    return SourceIdentity(id=source.id, pseudonym=source.pseudonym, notes=notes, names=names)


@router.post(
    "/{source_id}/handover", response_model=SourcePublic, responses=problems(401, 404, 422)
)
async def hand_over(
    source_id: UUID, body: HandoverRequest, actor: SessionActor, vault: VaultDep
) -> SourcePublic:
    """Hand a source you handle to another approved member of its case: its key is wrapped for
    them with yours, and your copy is deleted. Logged. End to end (your session holds no key),
    send `key_id` (the new handler's, checked against the access log) and `wrapped_key` (the
    source's key wrapped for it on your machine; see `GET /v1/sources/{id}/key`) when the
    source has identity notes or names."""
    if body.key_id is None and body.wrapped_key is None:
        source = await run_in_threadpool(vault.sources.hand_over, actor, source_id, body.to)
        return source_public(source)
    if body.key_id is None:
        raise InvalidInput("key_id names the key wrapped_key is for")
    try:
        wrapped = None if body.wrapped_key is None else base64.b64decode(body.wrapped_key)
    except ValueError:  # binascii.Error: the padding is wrong
        raise InvalidInput("wrapped_key must be base64") from None
    source = await run_in_threadpool(
        lambda: vault.sealed_sources.hand_over(
            actor, source_id, body.to, key_id=str(body.key_id), wrapped=wrapped
        )
    )
    return source_public(source)
