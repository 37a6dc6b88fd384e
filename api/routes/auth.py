"""Enrolment, login and logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentActor, VaultDep, client_address
from api.routes import problems
from api.schemas.auth import (
    ConfirmRequest,
    EnrollRequest,
    EnrollResponse,
    LoginRequest,
    LoginResponse,
    Me,
    UserPublic,
)

router = APIRouter(prefix="/v1/auth", tags=["auth"])
Address = Annotated[str, Depends(client_address)]


@router.post("/enroll", response_model=EnrollResponse, responses=problems(401, 422, 429, 503))
async def enroll(body: EnrollRequest, vault: VaultDep, address: Address) -> EnrollResponse:
    """Set your first passphrase with the one-time enrolment code an administrator gave you.
    Where your role requires two-factor authentication, the answer carries a TOTP provisioning
    URI, and the account becomes active once ``/v1/auth/enroll/confirm`` accepts a first code."""
    result = await run_in_threadpool(
        vault.auth.enroll, body.username, body.code, body.passphrase, address=address
    )
    return EnrollResponse(active=result.active, totp_uri=result.totp_uri)


@router.post("/enroll/confirm", status_code=204, responses=problems(401, 422, 429, 503))
async def confirm(body: ConfirmRequest, vault: VaultDep, address: Address) -> Response:
    """Activate an account with the first code from the authenticator app."""
    await run_in_threadpool(
        vault.auth.confirm_totp, body.username, body.passphrase, body.otp, address=address
    )
    return Response(status_code=204)


@router.post("/login", response_model=LoginResponse, responses=problems(401, 422, 429, 503))
async def login(body: LoginRequest, vault: VaultDep, address: Address) -> LoginResponse:
    """Open a session. Unknown user and wrong passphrase get the same answer, after the same
    work. Repeated failures are throttled (429 with Retry-After) per account and per client
    address, or, for a login that shows this account's `device_token`, per device instead of
    per address."""
    issued = await run_in_threadpool(
        lambda: vault.auth.login(
            body.username,
            body.passphrase,
            body.otp,
            address=address,
            device_token=body.device_token,
            rotate_key=body.rotate_key,
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


@router.post("/logout", status_code=204, responses=problems(401))
async def logout(actor: CurrentActor, vault: VaultDep) -> Response:
    """End the session (or revoke the token) this request was made with."""
    await run_in_threadpool(vault.auth.logout, actor)
    return Response(status_code=204)


@router.get("/me", response_model=Me, responses=problems(401))
async def me(actor: CurrentActor, vault: VaultDep) -> Me:
    """Who the credential belongs to, and whether this server lets editors approve their own
    redactions."""
    return Me(
        id=actor.user_id,
        username=actor.username,
        role=actor.role.value,
        redaction_self_approval=vault.settings.redaction_self_approval,
    )
