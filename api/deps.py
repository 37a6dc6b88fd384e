"""Dependencies shared by the routes: the open vault and the authenticated actor."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from vault.errors import AuthenticationFailed, NotFound
from vault.instance import Vault
from vault.services.users import READ, UPLOAD, Actor

__all__ = [
    "CurrentActor",
    "Reader",
    "SessionActor",
    "Uploader",
    "VaultDep",
    "client_address",
]

_bearer = HTTPBearer(auto_error=False, description="a session token or an API token")


def get_vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


VaultDep = Annotated[Vault, Depends(get_vault)]


async def get_actor(
    vault: VaultDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("missing bearer token")
    # Unsealing the key and recording the use touch the database: off the event loop.
    return await run_in_threadpool(vault.auth.authenticate, credentials.credentials)


CurrentActor = Annotated[Actor, Depends(get_actor)]


def _scoped(scope: str) -> Callable[[Actor], Coroutine[Any, Any, Actor]]:
    """A dependency that lets through a credential whose scopes include ``scope``."""

    async def check(actor: CurrentActor) -> Actor:
        if not actor.can(scope):
            # Outside the credential's reach looks like absence, as everywhere else.
            raise NotFound("no such resource")
        return actor

    return check


async def _session_only(actor: CurrentActor) -> Actor:
    # Changing things (cases, members, sources, deletion, new tokens) takes a person at a
    # login session: an API token is for scripts that upload or read, and a leaked one must not
    # be able to destroy material or widen anyone's access.
    if actor.via_token:
        raise NotFound("no such resource")
    return actor


SessionActor = Annotated[Actor, Depends(_session_only)]
Reader = Annotated[Actor, Depends(_scoped(READ))]
Uploader = Annotated[Actor, Depends(_scoped(UPLOAD))]


def client_address(request: Request) -> str:
    """The client's address, for throttling only (never logged unless the operator opts in):
    the peer, or the address a configured trusted proxy forwarded (``api.app``)."""
    return request.client.host if request.client else "unknown"
