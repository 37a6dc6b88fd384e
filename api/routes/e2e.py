"""End-to-end logins: the passphrase, the key-encryption key and the private key stay on the
client, and the session the server opens holds no key (vault.services.e2e_login)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from api.deps import VaultDep, client_address
from api.routes import problems
from api.schemas.auth import EnrollResponse, LoginResponse, UserPublic
from api.schemas.e2e import (
    AnswerRequest,
    ChallengePublic,
    ChallengeRequest,
    ConfirmEndToEnd,
    EnrollEndToEnd,
    EnrollStart,
    EnrollStartPublic,
    KdfParamsPublic,
    ParamsRequest,
)
from vault.crypto import Argon2Params
from vault.errors import AuthenticationFailed, InvalidInput
from vault.services.e2e_enrolment import ClientEnrolment
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


def _bytes(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} must be base64") from None


@router.post("/enroll/start", response_model=EnrollStartPublic, responses=problems(401, 422, 429))
async def enroll_start(body: EnrollStart, vault: VaultDep, address: Address) -> EnrollStartPublic:
    """Before an end-to-end enrolment: with your one-time code (checked, not used up), your
    account's id, which your sealed private key is bound to, and the Argon2id parameters to
    seal it with."""
    user_id, params = await run_in_threadpool(
        lambda: vault.e2e_enrolment.start(body.username, body.code, address=address)
    )
    return EnrollStartPublic(
        user_id=user_id,
        memory_kib=params.memory_kib,
        time_cost=params.time_cost,
        lanes=params.lanes,
    )


@router.post("/enroll", response_model=EnrollResponse, responses=problems(401, 409, 422, 429))
async def enroll(body: EnrollEndToEnd, vault: VaultDep, address: Address) -> EnrollResponse:
    """Enrol with your one-time code and the key pair your client made: the public key, the
    private key sealed under your passphrase, and the salt, Argon2id parameters and login
    verifier it used. The passphrase never leaves your machine. As with `/v1/auth/enroll`,
    where your role needs a second factor the answer carries the TOTP URI, and
    `/v1/auth/e2e/enroll/confirm` activates the account with a first code."""
    made = ClientEnrolment(
        public_key=_bytes(body.public_key, "public_key"),
        salt=_bytes(body.salt, "salt"),
        params=Argon2Params(body.memory_kib, body.time_cost, body.lanes),
        verifier=_bytes(body.verifier, "verifier"),
        sealed_private_key=_bytes(body.sealed_private_key, "sealed_private_key"),
    )
    done = await run_in_threadpool(
        lambda: vault.e2e_enrolment.enroll(body.username, body.code, made, address=address)
    )
    return EnrollResponse(active=done.active, totp_uri=done.totp_uri)


@router.post("/enroll/confirm", status_code=204, responses=problems(401, 422, 429))
async def confirm(body: ConfirmEndToEnd, vault: VaultDep, address: Address) -> Response:
    """Activate an account enrolled end to end with its first one-time code and the login
    verifier of its passphrase."""
    verifier = _bytes32(body.verifier)
    await run_in_threadpool(
        lambda: vault.e2e_enrolment.confirm(body.username, verifier, body.otp, address=address)
    )
    return Response(status_code=204)
