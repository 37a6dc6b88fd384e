"""Grants completed by clients that hold their own key: which are pending, and the copies the
client wrapped (vault.services.client_grants)."""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, VaultDep
from api.routes import problems
from api.routes.sealed import SealedDocumentPublic, sealed_public
from api.schemas.body import Body
from vault.errors import InvalidInput
from vault.services.client_grants import MAX_GRANTS, NewCopy

router = APIRouter(prefix="/v1/grants", tags=["documents"])


class PendingGrantPublic(BaseModel):
    document: SealedDocumentPublic = Field(description="as stored, with your own wrapped copy")
    user_id: UUID
    username: str
    key_id: str = Field(description="the member's key: check it against the access log")


class PendingGrants(BaseModel):
    grants: list[PendingGrantPublic]


class CopyIn(Body):
    document_id: UUID
    user_id: UUID
    key_id: str = Field(min_length=64, max_length=64)
    wrapped_key: str = Field(min_length=1, max_length=8192, description="base64")


class Copies(Body):
    grants: list[CopyIn] = Field(max_length=MAX_GRANTS)


class Completed(BaseModel):
    completed: int


@router.get("", response_model=PendingGrants, responses=problems(401, 404))
async def pending(actor: Reader, vault: VaultDep) -> PendingGrants:
    """The grants your key can complete: members of your cases waiting for a copy of a
    document's key that you hold. Wrap each with the document's key for the member's key, after
    checking that key against the access log (`GET /v1/users/{name}/key`). Logged."""
    found = await run_in_threadpool(vault.client_grants.pending, actor)
    return PendingGrants(
        grants=[
            PendingGrantPublic(
                document=sealed_public(g.document),
                user_id=g.user_id,
                username=g.username,
                key_id=g.key_id,
            )
            for g in found
        ]
    )


def _bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("wrapped_key is not base64") from None


@router.post("", response_model=Completed, responses=problems(401, 404, 422))
async def complete(body: Copies, actor: Reader, vault: VaultDep) -> Completed:
    """Store the copies you wrapped for pending grants. Each must be for a grant you may
    complete, for the member's current key (404 otherwise); one completed meanwhile is
    skipped. Each stored copy is a `grant.complete` entry of the access log."""
    copies = [
        NewCopy(c.document_id, c.user_id, c.key_id, _bytes(c.wrapped_key)) for c in body.grants
    ]
    stored = await run_in_threadpool(vault.client_grants.complete, actor, copies)
    return Completed(completed=stored)
