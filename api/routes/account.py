"""Your own account."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import SessionActor, VaultDep
from api.routes import problems
from api.schemas.auth import PassphraseChange, PassphraseChanged

router = APIRouter(prefix="/v1/me", tags=["auth"])


@router.post(
    "/passphrase", response_model=PassphraseChanged, responses=problems(401, 404, 422, 429, 503)
)
async def change_passphrase(
    body: PassphraseChange, actor: SessionActor, vault: VaultDep
) -> PassphraseChanged:
    """Change your passphrase, giving the current one (a wrong one counts as a failed login).
    Your key is re-sealed under the new one and your other sessions end; this one and your API
    tokens stay."""
    ended = await run_in_threadpool(
        vault.account.change_passphrase, actor, body.current_passphrase, body.new_passphrase
    )
    return PassphraseChanged(sessions_ended=ended)
