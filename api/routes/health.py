"""Liveness and readiness, without authentication.

The answers are read by anyone who can reach the server, so they say what is wrong and never
where: no path, no database URL.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import VaultDep
from api.routes import problems
from api.schemas.health import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problems(503))
async def readyz(vault: VaultDep) -> Health:
    """The database and the blob store are reachable, the blob store takes a write, and their
    disks have at least ``min_free_bytes`` free."""
    await run_in_threadpool(vault.ready)
    return Health(status="ok")
