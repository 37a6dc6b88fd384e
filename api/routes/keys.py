"""Users' public keys as the access log holds them (key transparency, docs/audit-log.md)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentActor, VaultDep
from api.routes import problems
from api.routes.audit import MAX_INDEX
from api.schemas.keys import UserKey
from vault.crypto import PublicKey
from vault.services.key_directory import PublishedKey

router = APIRouter(prefix="/v1/users", tags=["keys"])
recovery = APIRouter(prefix="/v1/recovery-key", tags=["keys"])
routers = (router, recovery)
Since = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_INDEX,
        description="the size of the last checkpoint you saw: the answer proves its tree "
        "extends that one",
    ),
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get("/{username}/key", response_model=UserKey, responses=problems(401, 404, 422))
async def get_user_key(
    actor: CurrentActor,
    vault: VaultDep,
    username: Annotated[str, Path(min_length=1, max_length=64)],
    since: Since = None,
) -> UserKey:
    """A user's current public key, the access-log entry that gives it to them, a signed
    checkpoint, the entry's inclusion proof and, with `since`, the checkpoint's consistency
    proof from the tree you saw last. Check all of it before encrypting to the key. Any
    authenticated caller; 404 for an unknown user and for one not enrolled yet."""
    found = await run_in_threadpool(vault.keys.key_of, actor, username, since=since)
    return _public(found)


@recovery.get("", response_model=UserKey, responses=problems(401, 422))
async def get_recovery_key(actor: CurrentActor, vault: VaultDep, since: Since = None) -> UserKey:
    """The vault's recovery key, which every document is wrapped for too, with the access-log
    entry that made it the recovery key (`vault.init`, `recovery.key.rotate` or
    `recovery.key.logged`), a signed checkpoint and the proofs, as for a user's key.
    `username` is empty and `user_id` the nil UUID. Any authenticated caller."""
    return _public(await run_in_threadpool(vault.keys.recovery_key, actor, since=since))


def _public(found: PublishedKey) -> UserKey:
    return UserKey(
        username=found.username,
        user_id=found.user_id,
        enabled=found.enabled,
        public_key=_b64(found.public_key),
        key_id=PublicKey(found.public_key).key_id,
        index=found.index,
        entry=_b64(found.leaf),
        checkpoint=found.checkpoint,
        inclusion=[_b64(p) for p in found.inclusion],
        consistency=[_b64(p) for p in found.consistency],
    )
