"""Credentials before bodies.

FastAPI decodes a JSON body before it runs a route's dependencies, so a body that does not
decode was answered ``422`` (or ``400``) before anyone looked at the credentials: a caller
without valid credentials could learn how a route parses its input. Everything else in a
request — a body that decodes but does not match its schema, a bad parameter — is already
checked after the authentication dependency, which raises first.

The error handlers for an undecodable body therefore run the same authentication the route's
dependency would have run (``api.deps.get_actor``), and only for routes that depend on it: a
request without valid credentials gets its ``401`` whatever its body. Done in the error path
rather than by reading bodies by hand in each route, so that the routes keep their declared
body models (and the OpenAPI document its schemas), and a valid request is authenticated once.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.security import HTTPBearer

from api.deps import get_actor
from vault.errors import VaultError

__all__ = ["authentication_error", "needs_credentials"]

_bearer = HTTPBearer(auto_error=False)


def needs_credentials(dependant: Any) -> bool:
    """Whether a route's dependency tree authenticates the caller."""
    return any(dep.call is get_actor or needs_credentials(dep) for dep in dependant.dependencies)


async def authentication_error(request: Request) -> VaultError | None:
    """The error the matched route's authentication raises for this request (``401``, or a
    storage failure on the way), if the route authenticates and the credentials do not pass;
    ``None`` otherwise."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not needs_credentials(dependant):
        return None
    try:
        await get_actor(request.app.state.vault, await _bearer(request))
    except VaultError as failed:
        return failed
    return None
