"""End-to-end logins: the passphrase, the key-encryption key and the private key stay on the
client, and the session the server opens holds no key (vault.services.e2e_login)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from api.deps import VaultDep, client_address
from api.routes import problems
from api.schemas.auth import LoginResponse, UserPublic
from api.schemas.e2e import (
    AnswerRequest,
    ChallengePublic,
    ChallengeRequest,
    KdfParamsPublic,
    ParamsRequest,
)
from vault.errors import AuthenticationFailed
from vault.services.e2e_login import CHALLENGE_SECONDS

router = APIRouter(prefix="/v1/auth/e2e", tags=["auth"])
Address = Annotated[str, Depends(client_address)]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _bytes32(text: str) -> bytes:
    """32 bytes from base64; anything else is a wrong credential, not a malformed request
    (the answer must look the same as for a wrong value)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AuthenticationFailed() from None
    if len(raw) != 32:
        raise AuthenticationFailed()
    return raw


@router.post("/params", response_model=KdfParamsPublic, responses=problems(422, 503))
async def params(body: ParamsRequest, vault: VaultDep) -> KdfParamsPublic:
    """Step 1: the Argon2id salt and cost to derive your keys with. An unknown account gets a
    salt of the same shape, the same on every ask."""
    found = await run_in_threadpool(vault.e2e.params, body.username)
    return KdfParamsPublic(
        salt=_b64(found.salt),
        memory_kib=found.params.memory_kib,
        time_cost=found.params.time_cost,
        lanes=found.params.lanes,
    )


@router.post("/challenge", response_model=ChallengePublic, responses=problems(401, 422, 429, 503))
async def challenge(body: ChallengeRequest, vault: VaultDep, address: Address) -> ChallengePublic:
    """Step 2: show the login verifier (and a one-time code where your role needs one). The
    answer holds your private key as stored, sealed under your key-encryption key, and a secret
    wrapped for your public key. Throttled like a login; one generic 401 for every failure."""
    found = await run_in_threadpool(
        lambda: vault.e2e.challenge(
            body.username,
            _bytes32(body.verifier),
            body.otp,
            address=address,
            device_token=body.device_token,
        )
    )
    return ChallengePublic(
        challenge_id=found.id,
        user_id=found.user_id,
        key_id=found.key_id,
        sealed_private_key=_b64(found.sealed_private_key),
        wrapped_secret=_b64(found.wrapped_secret),
        expires_in=CHALLENGE_SECONDS,
    )


@router.post("/login", response_model=LoginResponse, responses=problems(401, 422, 429, 503))
async def login(body: AnswerRequest, vault: VaultDep, address: Address) -> LoginResponse:
    """Step 3: answer with the secret, which only your private key unwraps. The session holds
    no key of yours: routes that need it on the server answer 409 `key-not-held`."""
    issued = await run_in_threadpool(
        lambda: vault.e2e.login(
            body.username,
            body.challenge_id,
            _bytes32(body.answer),
            address=address,
            device_token=body.device_token,
        )
    )
    actor = issued.actor
    assert issued.device_token is not None  # noqa: S101 - every login issues one
    return LoginResponse(
        token=issued.token,
        expires_at=issued.credential.expires_at,
        user=UserPublic(id=actor.user_id, username=actor.username, role=actor.role.value),
        device_token=issued.device_token,
    )
