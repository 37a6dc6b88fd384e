"""Sources recorded and revealed end to end (vault.services.sealed_sources)."""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, SessionActor, VaultDep
from api.routes import problems
from api.routes.sources import Reason, source_public
from api.schemas.sealed_sources import (
    SealedIdentityPublic,
    SealedSourceCreate,
    SourceKeyPublic,
)
from api.schemas.sources import SourcePublic
from vault.errors import InvalidInput
from vault.services.sealed_sources import NewSealedSource

router = APIRouter(prefix="/v1/sealed-sources", tags=["sources"])
by_source = APIRouter(prefix="/v1/sources", tags=["sources"])
routers = (router, by_source)


def _bytes(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} must be base64") from None


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


@router.post(
    "", status_code=201, response_model=SourcePublic, responses=problems(401, 404, 409, 422)
)
async def create_sealed_source(
    body: SealedSourceCreate, actor: SessionActor, vault: VaultDep
) -> SourcePublic:
    """Record a source whose identity notes and names your client sealed (end to end): you
    become their handler. The source key is wrapped for exactly your key and the vault's
    recovery key; the server stores the records as sent and never sees them open."""
    new = NewSealedSource(
        source_id=body.id,
        key_commitment=_bytes(body.key_commitment, "key_commitment"),
        sealed_notes=_bytes(body.sealed_notes, "sealed_notes") if body.sealed_notes else None,
        sealed_names=_bytes(body.sealed_names, "sealed_names") if body.sealed_names else None,
        wrapped={k: _bytes(v, "a wrapped key") for k, v in body.keys.items()},
    )
    info = await run_in_threadpool(vault.sealed_sources.create, actor, body.case, new)
    return source_public(info)


@by_source.get(
    "/{source_id}/key", response_model=SourceKeyPublic, responses=problems(401, 404, 409)
)
async def get_source_key(source_id: UUID, actor: SessionActor, vault: VaultDep) -> SourceKeyPublic:
    """Your copy of the key of a source you handle, to hand the source over end to end (wrap
    it on your machine for the new handler's key). The handler only."""
    found = await run_in_threadpool(vault.sealed_sources.key, actor, source_id)
    return SourceKeyPublic(
        id=source_id,
        case=found.case_id,
        key_commitment=_b64(found.key_commitment),
        recipient_key_id=found.recipient_key_id,
        wrapped_key=_b64(found.wrapped_key),
    )


@by_source.get(
    "/{source_id}/sealed-identity",
    response_model=SealedIdentityPublic,
    responses=problems(401, 404, 409, 422),
)
async def reveal_sealed_identity(
    source_id: UUID,
    reason: Reason,
    actor: Reader,
    vault: VaultDep,
) -> SealedIdentityPublic:
    """A source's sealed identity notes and names with your copy of its key, for their
    handler only, to open on your machine. The reading and its reason are logged as for
    `/identity`."""
    found = await run_in_threadpool(
        lambda: vault.sealed_sources.identity(actor, source_id, reason=reason)
    )
    return SealedIdentityPublic(
        id=found.info.id,
        case=found.info.case_id,
        pseudonym=found.info.pseudonym,
        key_commitment=_b64(found.key_commitment),
        sealed_notes=_b64(found.sealed_notes),
        sealed_names=_b64(found.sealed_names),
        recipient_key_id=found.recipient_key_id,
        wrapped_key=_b64(found.wrapped_key),
    )
