"""Liveness and readiness, without authentication."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import VaultDep
from api.routes import problems
from api.schemas import Health
from vault.errors import StorageError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problems(503))
async def readyz(vault: VaultDep) -> Health:
    """The database and the blob store are reachable."""

    def check() -> None:
        try:
            with vault.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            raise StorageError("the database is not reachable") from None
        vault.blobs.check()

    await run_in_threadpool(check)
    return Health(status="ok")
