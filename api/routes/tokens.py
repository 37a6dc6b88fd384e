"""API tokens for scripts."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentActor, SessionActor, VaultDep
from api.routes import problems
from api.schemas.tokens import TokenCreate, TokenCreated, TokenList, TokenPublic
from vault.services.credentials import CredentialInfo

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


def _public(row: CredentialInfo) -> TokenPublic:
    return TokenPublic(
        id=row.id,
        name=row.name,
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


@router.post(
    "", status_code=201, response_model=TokenCreated, responses=problems(401, 404, 409, 422)
)
async def create_token(body: TokenCreate, actor: SessionActor, vault: VaultDep) -> TokenCreated:
    """Create a token from a login session. ``upload`` may add documents and read nothing;
    ``read`` may read what its owner can read. The token is shown once."""
    issued = await run_in_threadpool(
        lambda: vault.auth.create_token(
            actor, name=body.name, scopes=body.scopes, expires_in=body.expires_in
        )
    )
    return TokenCreated(**_public(issued.credential).model_dump(), token=issued.token)


@router.get("", response_model=TokenList, responses=problems(401))
async def list_tokens(actor: CurrentActor, vault: VaultDep) -> TokenList:
    """Your tokens that are neither expired nor revoked."""
    rows = await run_in_threadpool(vault.auth.list_tokens, actor)
    return TokenList(tokens=[_public(row) for row in rows])


@router.delete("/{token_id}", status_code=204, responses=problems(401, 404))
async def revoke_token(token_id: UUID, actor: CurrentActor, vault: VaultDep) -> Response:
    """Revoke one of your tokens."""
    await run_in_threadpool(vault.auth.revoke_token, actor, token_id)
    return Response(status_code=204)
