"""Liveness and readiness, without authentication.

The answers are read by anyone who can reach the server, so they say what is wrong and never
where: no path, no database URL.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import VaultDep
from api.routes import problems
from api.schemas.health import Health
from vault.errors import StorageError
from vault.instance import Vault
from vault.storage import database

router = APIRouter(tags=["health"])
_MiB = 1 << 20


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problems(503))
async def readyz(vault: VaultDep) -> Health:
    """The database and the blob store are reachable, the blob store takes a write, and their
    disks have at least ``min_free_bytes`` free."""
    await run_in_threadpool(_check_ready, vault)
    return Health(status="ok")


def _check_ready(vault: Vault) -> None:
    try:
        with vault.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        raise StorageError("the database is not reachable") from None
    vault.blobs.check()
    # Below the threshold uploads are about to fail (and, with SQLite, every request, since each
    # is recorded in the access log): a load balancer should stop sending work here first.
    minimum = vault.settings.min_free_bytes
    free = [vault.blobs.free_bytes(), database.free_bytes(vault.engine)]
    lowest = min(f for f in free if f is not None)
    if lowest < minimum:
        raise StorageError(
            f"low disk space: {lowest // _MiB} MiB free, below the {minimum // _MiB} MiB "
            "the server needs to take uploads"
        )
