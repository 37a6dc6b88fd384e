"""The access log: signed checkpoints, the verifier key, entries and proofs (RFC 9162), and a
document's readable history."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, VaultDep
from api.routes import problems

router = APIRouter(tags=["audit"])
# Indexes and sizes are BIGINT in the database: a larger number can name no entry, and was a
# server error where it reached a query.
MAX_INDEX = 2**63 - 1
Index = Annotated[int, Query(ge=0, le=MAX_INDEX)]
Size = Annotated[int, Query(ge=1, le=MAX_INDEX)]
_TEXT: dict[int | str, dict[str, Any]] = {
    200: {"description": "Plain text", "content": {"text/plain": {"schema": {"type": "string"}}}}
}


class AuditEntryPublic(BaseModel):
    index: int
    leaf: str


class AuditEntries(BaseModel):
    entries: list[AuditEntryPublic]


class Proof(BaseModel):
    proof: list[str]


class KeyRotation(BaseModel):
    index: int
    old_key: str
    new_key: str
    entry: str
    checkpoint: str
    proof: list[str]


class KeyRotations(BaseModel):
    rotations: list[KeyRotation]


class HistoryEntry(BaseModel):
    index: int
    time: datetime
    actor: str
    action: str
    outcome: str


class History(BaseModel):
    document: UUID
    entries: list[HistoryEntry]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get(
    "/v1/audit/checkpoint",
    response_class=PlainTextResponse,
    responses={**_TEXT, **problems(401, 404, 503)},
)
async def get_checkpoint(actor: Reader, vault: VaultDep) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP tlog-checkpoint in a signed note)."""
    return PlainTextResponse(await run_in_threadpool(vault.audit.checkpoint, actor))


@router.get(
    "/v1/audit/key", response_class=PlainTextResponse, responses={**_TEXT, **problems(401, 404)}
)
async def get_key(actor: Reader, vault: VaultDep) -> PlainTextResponse:
    """The log's verifier key: ``name+keyid+base64(0x01 || Ed25519 public key)``."""
    return PlainTextResponse(await run_in_threadpool(vault.audit.verifier_key, actor) + "\n")


@router.get("/v1/audit/key/rotations", response_model=KeyRotations, responses=problems(401, 404))
async def get_key_rotations(actor: Reader, vault: VaultDep) -> KeyRotations:
    """Every rotation of the log's key, oldest first: the ``log.key.rotate`` entry (``index``,
    canonical bytes in base64), the old and new verifier keys, the checkpoint of the tree that
    ends with the entry signed by both keys, and the entry's inclusion proof in that tree. A
    client holding an old key follows these to the current one (docs/audit-log.md)."""
    found = await run_in_threadpool(vault.audit.rotations, actor)
    return KeyRotations(
        rotations=[
            KeyRotation(
                index=t.index,
                old_key=t.old_key,
                new_key=t.new_key,
                entry=_b64(t.entry),
                checkpoint=t.checkpoint,
                proof=[_b64(p) for p in t.proof],
            )
            for t in found
        ]
    )


@router.get("/v1/audit/entries", response_model=AuditEntries, responses=problems(401, 404, 422))
async def get_entries(
    actor: Reader,
    vault: VaultDep,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX, description="the first entry")],
    end: Annotated[
        int, Query(ge=1, le=MAX_INDEX, description="one past the last entry; greater than start")
    ],
) -> AuditEntries:
    """Entries ``start`` to ``end - 1`` in order, ``start < end`` (a page may hold fewer than
    asked)."""
    rows = await run_in_threadpool(vault.audit.entries, actor, start, end)
    return AuditEntries(entries=[AuditEntryPublic(index=i, leaf=_b64(leaf)) for i, leaf in rows])


@router.get("/v1/audit/proof/inclusion", response_model=Proof, responses=problems(401, 404, 422))
async def get_inclusion(
    actor: Reader,
    vault: VaultDep,
    index: Index,
    tree_size: Annotated[
        int, Query(ge=1, le=MAX_INDEX, description="greater than index, at most the log's size")
    ],
) -> Proof:
    """RFC 9162 §2.1.3 inclusion proof of entry ``index`` in the tree of ``tree_size``: for
    auditors any entry, for others an entry that names them as its actor (an upload's
    ``log_index`` is such a receipt)."""
    proof = await run_in_threadpool(vault.audit.inclusion, actor, index, tree_size)
    return Proof(proof=[_b64(p) for p in proof])


@router.get("/v1/audit/proof/consistency", response_model=Proof, responses=problems(401, 404, 422))
async def get_consistency(
    actor: Reader,
    vault: VaultDep,
    first: Size,
    second: Annotated[
        int, Query(ge=1, le=MAX_INDEX, description="at least first, at most the log's size")
    ],
) -> Proof:
    """RFC 9162 §2.1.4 proof that the tree of ``second`` extends the tree of ``first``."""
    proof = await run_in_threadpool(vault.audit.consistency, actor, first, second)
    return Proof(proof=[_b64(p) for p in proof])


@router.get(
    "/v1/documents/{document_id}/access-log",
    response_model=History,
    responses=problems(401, 404),
)
async def document_history(document_id: UUID, actor: Reader, vault: VaultDep) -> History:
    """Who did what to this document, for the editors of its case and its uploader."""
    items = await run_in_threadpool(vault.audit.document_history, actor, document_id)
    return History(
        document=document_id,
        entries=[
            HistoryEntry(
                index=i.index, time=i.time, actor=i.actor, action=i.action, outcome=i.outcome
            )
            for i in items
        ],
    )
