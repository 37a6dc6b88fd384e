"""Your own account."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import SessionActor, VaultDep
from api.routes import problems
from api.schemas.auth import ClientPassphraseChange, PassphraseChange, PassphraseChanged
from vault.crypto import Argon2Params
from vault.errors import InvalidInput
from vault.services.account import ClientSealing

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


def _bytes(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} must be base64") from None


@router.post(
    "/passphrase/end-to-end",
    response_model=PassphraseChanged,
    responses=problems(401, 404, 409, 422, 429),
)
async def change_passphrase_end_to_end(
    body: ClientPassphraseChange, actor: SessionActor, vault: VaultDep
) -> PassphraseChanged:
    """Change your passphrase on your machine: prove the current one with its login verifier
    (a wrong one counts as a failed login) and send your same private key sealed under the new
    one, with its salt, Argon2id parameters and verifier. Neither passphrase reaches the
    server. Your other sessions end; this one and your API tokens stay."""
    sealing = ClientSealing(
        salt=_bytes(body.salt, "salt"),
        params=Argon2Params(body.memory_kib, body.time_cost, body.lanes),
        verifier=_bytes(body.verifier, "verifier"),
        sealed_private_key=_bytes(body.sealed_private_key, "sealed_private_key"),
    )
    ended = await run_in_threadpool(
        vault.account.reseal_from_client,
        actor,
        _bytes(body.current_verifier, "current_verifier"),
        sealing,
    )
    return PassphraseChanged(sessions_ended=ended)
