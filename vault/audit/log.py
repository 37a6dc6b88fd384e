"""The access log's storage: appending entries inside the caller's transaction, reading
proofs, and recomputing everything from the entries to check it.

An append is part of the action's own transaction, so the action and its entry commit or
fail together. It starts by incrementing the size in the one ``audit_head`` row: that write
takes the row lock (PostgreSQL) or the database write lock (SQLite) before the index is read,
so concurrent appenders on any number of processes are serialised and can produce neither a
duplicate index, nor a gap, nor two different trees of one size.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from vault.audit import context, merkle
from vault.clock import Clock
from vault.errors import IntegrityError, StorageError, Unavailable
from vault.storage.models import AuditEntry, AuditHead, AuditNode

__all__ = [
    "DbNodes",
    "VerifyReport",
    "append",
    "canonical",
    "commit",
    "head",
    "record",
    "verify",
]

_log = logging.getLogger(__name__)

_HEAD = 1


def canonical(entry: Mapping[str, Any]) -> bytes:
    """Deterministic JSON: UTF-8, keys sorted, no insignificant whitespace."""
    return json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


class DbNodes:
    """``merkle.NodeStore`` over ``audit_nodes``, with the nodes of the current append kept in
    memory until they are flushed."""

    def __init__(self, db: Session) -> None:
        self._db = db
        self.pending: dict[tuple[int, int], bytes] = {}

    def node(self, level: int, index: int) -> bytes:
        if (level, index) in self.pending:
            return self.pending[(level, index)]
        value = self._db.get(AuditNode, (level, index))
        if value is None:
            raise IntegrityError(
                f"access log node {level}/{index} is missing", reason="audit-node-missing"
            )
        return value.hash


def append(
    db: Session,
    *,
    action: str,
    actor: UUID | str,
    time: datetime,
    outcome: str = "ok",
    targets: Mapping[str, str] | None = None,
    request_id: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> int:
    """Add an entry in ``db``'s transaction (not committed) and return its index."""
    bumped = db.execute(
        update(AuditHead).where(col(AuditHead.id) == _HEAD).values(size=col(AuditHead.size) + 1)
    )
    if getattr(bumped, "rowcount", 0) != 1:
        raise StorageError("the access log is not initialised")
    size: int = db.execute(
        select(col(AuditHead.size)).where(col(AuditHead.id) == _HEAD)
    ).scalar_one()
    index = size - 1
    entry: dict[str, Any] = {
        "index": index,
        "time": time.isoformat().replace("+00:00", "Z"),
        "actor": str(actor),
        "action": action,
        "outcome": outcome,
        "targets": dict(targets or {}),
    }
    if request_id is not None:
        entry["request_id"] = request_id
    entry.update(extra or {})
    leaf = canonical(entry)
    nodes = DbNodes(db)
    for level, position, value in merkle.nodes_completed_by(nodes, index, merkle.leaf_hash(leaf)):
        nodes.pending[(level, position)] = value
    for (level, position), value in nodes.pending.items():
        db.add(AuditNode(level=level, idx=position, hash=value))
    document = entry["targets"].get("document")
    db.add(AuditEntry(idx=index, leaf=leaf, created_at=time, document_id=document))
    db.execute(
        update(AuditHead)
        .where(col(AuditHead.id) == _HEAD)
        .values(root=merkle.root(nodes, size), updated_at=time)
    )
    return index


def record(
    db: Session,
    action: str,
    actor: UUID | str,
    *,
    clock: Clock,
    outcome: str = "ok",
    extra: Mapping[str, str] | None = None,
    **targets: UUID | str,
) -> int:
    """``append`` for services: the time from ``clock``, the request id from the context,
    targets as keyword arguments (ids only, never names or content)."""
    return append(
        db,
        action=action,
        actor=actor,
        time=clock(),
        outcome=outcome,
        targets={name: str(value) for name, value in targets.items()},
        request_id=context.request_id.get(),
        extra=extra,
    )


def commit(db: Session) -> None:
    """Commit an action together with its entry; if that fails, the action did not happen."""
    try:
        db.commit()
    except SQLAlchemyError as exc:
        db.rollback()
        _log.warning(
            "action refused: its access-log entry could not be written (%s)", type(exc).__name__
        )
        raise Unavailable("the access log could not be written, so nothing was done") from None


def head(db: Session) -> tuple[int, bytes]:
    row = db.get(AuditHead, _HEAD)
    if row is None:
        raise StorageError("the access log is not initialised")
    return row.size, row.root


@dataclass
class VerifyReport:
    size: int
    root: bytes
    problem: str | None = None
    first_bad_index: int | None = None
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


_BATCH = 10_000


def _batches(engine: Engine) -> Iterator[list[tuple[int, bytes]]]:
    last = -1
    while True:
        with Session(engine) as db:
            rows = db.execute(
                select(col(AuditEntry.idx), col(AuditEntry.leaf))
                .where(col(AuditEntry.idx) > last)
                .order_by(col(AuditEntry.idx))
                .limit(_BATCH)
            ).all()
        if not rows:
            return
        yield [(idx, leaf) for idx, leaf in rows]
        last = rows[-1][0]


def _stored_nodes(engine: Engine, first: int, last: int) -> dict[tuple[int, int], bytes]:
    """Every stored node that covers a leaf in [first, last], by range query per level."""
    found: dict[tuple[int, int], bytes] = {}
    with Session(engine) as db:
        level = 0
        while level < 64 and (last >> level) >= (first >> level) and (1 << level) <= last + 1:
            rows = db.execute(
                select(col(AuditNode.idx), col(AuditNode.hash)).where(
                    col(AuditNode.level) == level,
                    col(AuditNode.idx) >= first >> level,
                    col(AuditNode.idx) <= last >> level,
                )
            ).all()
            found.update(((level, idx), value) for idx, value in rows)
            level += 1
    return found


def _fold(frontier: list[tuple[int, bytes]]) -> bytes:
    if not frontier:
        return merkle.EMPTY_ROOT
    computed = frontier[-1][1]
    for _, left in reversed(frontier[:-1]):
        computed = merkle.node_hash(left, computed)
    return computed


def verify(engine: Engine, *, checkpoint_roots: Mapping[int, bytes] | None = None) -> VerifyReport:
    """Recompute every leaf hash, every stored subtree hash and the root from the entries
    alone, in O(log n) memory, and compare them with the head and with the roots of
    ``checkpoint_roots`` (tree size -> root, from checkpoints whose signatures were checked)."""
    with Session(engine) as db:
        size, stored_root = head(db)
    wanted = dict(checkpoint_roots or {})
    frontier: list[tuple[int, bytes]] = []  # (level, hash) of the right edge, largest first
    expected = 0

    def bad(problem: str, index: int | None) -> VerifyReport:
        return VerifyReport(size, stored_root, problem, index)

    def check_checkpoint() -> VerifyReport | None:
        if expected in wanted and _fold(frontier) != wanted.pop(expected):
            return bad(f"the checkpoint at size {expected} does not match the entries", None)
        return None

    if (failure := check_checkpoint()) is not None:
        return failure
    for batch in _batches(engine):
        nodes = _stored_nodes(engine, batch[0][0], batch[-1][0])
        for idx, leaf in batch:
            if idx != expected:
                return bad(f"entry {expected} is missing", expected)
            try:
                claimed = json.loads(leaf)["index"]
            except (ValueError, KeyError, TypeError):
                return bad(f"entry {idx} is not a log entry", idx)
            if claimed != idx:
                return bad(f"entry {idx} claims to be entry {claimed}", idx)
            level, value, position = 0, merkle.leaf_hash(leaf), idx
            while True:
                if nodes.get((level, position)) != value:
                    return bad(f"stored hashes disagree with entry {idx}", idx)
                if not frontier or frontier[-1][0] != level:
                    break
                _, left = frontier.pop()
                value, level, position = merkle.node_hash(left, value), level + 1, position >> 1
            frontier.append((level, value))
            expected += 1
            if (failure := check_checkpoint()) is not None:
                return failure
    if expected != size:
        return bad(f"the log should hold {size} entries but holds {expected}", expected)
    if _fold(frontier) != stored_root:
        return bad("the stored root does not match the entries", None)
    if wanted:
        return bad(f"a checkpoint claims size {min(wanted)}, beyond the log", None)
    return VerifyReport(size, stored_root, checkpoints=len(checkpoint_roots or {}))
