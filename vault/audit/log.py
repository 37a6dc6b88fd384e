"""The access log's storage: appending entries inside the caller's transaction, reading
proofs, and recomputing everything from the entries to check it.

An append is part of the action's own transaction, so the action and its entry commit or
fail together. It starts by incrementing the size in the one ``audit_head`` row: that write
takes the row lock (PostgreSQL) or the database write lock (SQLite) before the index is read,
so concurrent appenders on any number of processes are serialised and can produce neither a
duplicate index, nor a gap, nor two different trees of one size.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import TextClause, bindparam, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from vault.audit import context, merkle, transparency
from vault.audit.actions import Action
from vault.clock import Clock
from vault.errors import IntegrityError, StorageError, Unavailable
from vault.storage.models import AuditEntry, AuditHead, AuditNode

__all__ = [
    "DbNodes",
    "NewEntry",
    "Receipt",
    "append",
    "append_many",
    "canonical",
    "commit",
    "consistency_proof",
    "head",
    "inclusion_proof",
    "lock",
    "receipt",
    "record",
]

_log = logging.getLogger(__name__)

_HEAD = 1


def canonical(entry: Mapping[str, Any]) -> bytes:
    """Deterministic JSON: UTF-8, keys sorted, no insignificant whitespace."""
    return json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


_PREFETCH = 128


@functools.lru_cache(maxsize=_PREFETCH)
def _nodes_statement(count: int) -> TextClause:
    """``SELECT`` of ``count`` nodes by primary key, as an OR of equalities: SQLite answers that
    with one index lookup per pair, but scans the whole table for a row-value ``IN``. Written as
    text and cached per count because building the expression costs more than running it."""
    pairs = " OR ".join(f"(level = :l{n} AND idx = :i{n})" for n in range(count))
    return text(f"SELECT level, idx, hash FROM audit_nodes WHERE {pairs}")  # noqa: S608 - placeholders only


class DbNodes:
    """``merkle.NodeStore`` over ``audit_nodes``. ``prefetch`` reads a known set of nodes in
    one query; anything else is read one by one."""

    def __init__(self, db: Session) -> None:
        self._db = db
        self._known: dict[tuple[int, int], bytes] = {}

    def prefetch(self, wanted: Iterable[tuple[int, int]]) -> None:
        keys = list(wanted)
        for start in range(0, len(keys), _PREFETCH):
            part = keys[start : start + _PREFETCH]
            params: dict[str, int] = {}
            for n, (level, idx) in enumerate(part):
                params[f"l{n}"], params[f"i{n}"] = level, idx
            rows = self._db.execute(_nodes_statement(len(part)), params)
            self._known.update(((level, idx), bytes(value)) for level, idx, value in rows)

    def node(self, level: int, index: int) -> bytes:
        if (level, index) in self._known:
            return self._known[(level, index)]
        value = self._db.get(AuditNode, (level, index))
        if value is None:
            raise IntegrityError(
                f"access log node {level}/{index} is missing", reason="audit-node-missing"
            )
        return value.hash


def inclusion_proof(db: Session, index: int, size: int) -> list[bytes]:
    """RFC 9162 inclusion proof, its O(log n) stored nodes read in one query."""
    nodes = DbNodes(db)
    nodes.prefetch(merkle.inclusion_nodes(index, size))
    return merkle.inclusion_proof(nodes, index, size)


def consistency_proof(db: Session, first: int, second: int) -> list[bytes]:
    """RFC 9162 consistency proof, its O(log n) stored nodes read in one query."""
    nodes = DbNodes(db)
    nodes.prefetch(merkle.consistency_nodes(first, second))
    return merkle.consistency_proof(nodes, first, second)


def _split_frontier(packed: bytes, size: int) -> list[bytes]:
    if len(packed) != 32 * size.bit_count():
        raise IntegrityError(
            "the access log's head does not match its size", reason="audit-head-corrupt"
        )
    return [packed[i : i + 32] for i in range(0, len(packed), 32)]


@dataclass(frozen=True)
class NewEntry:
    """What an entry says, before the log gives it an index."""

    action: str
    actor: UUID | str
    time: datetime
    outcome: str = "ok"
    targets: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def leaf(self, index: int) -> bytes:
        entry: dict[str, Any] = {
            "index": index,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "actor": str(self.actor),
            "action": self.action,
            "outcome": self.outcome,
            "targets": dict(self.targets),
        }
        if self.request_id is not None:
            entry["request_id"] = self.request_id
        entry.update(self.extra)
        return canonical(entry)


# Built once: an append runs these four statements and nothing else, on the session's own
# connection, so that SQLAlchemy's per-statement work stays small next to the database's.
_HEAD_TABLE = AuditHead.__table__  # type: ignore[attr-defined]  # SQLModel sets it at runtime
_BUMP = (
    update(_HEAD_TABLE)
    .where(_HEAD_TABLE.c.id == _HEAD)
    .values(size=_HEAD_TABLE.c.size + bindparam("count"))
    .returning(_HEAD_TABLE.c.size, _HEAD_TABLE.c.frontier)
)
_SET_HEAD = (
    update(_HEAD_TABLE)
    .where(_HEAD_TABLE.c.id == _HEAD)
    .values(root=bindparam("root"), frontier=bindparam("frontier"), updated_at=bindparam("time"))
)
_ADD_NODES = insert(AuditNode.__table__)  # type: ignore[attr-defined]  # as above
_ADD_ENTRIES = insert(AuditEntry.__table__)  # type: ignore[attr-defined]  # as above


def _document_of(entry: NewEntry) -> UUID | None:
    """The indexed copy of the entry's document target (every target is a UUID's text)."""
    document = entry.targets.get("document")
    try:
        return UUID(document) if document is not None else None
    except ValueError:
        return None


def append_many(db: Session, entries: Sequence[NewEntry]) -> list[int]:
    """Add ``entries`` in order in ``db``'s transaction (not committed); return their indices.
    However many there are, this costs four statements."""
    if not entries:
        return []
    conn = db.connection()
    # The size is bumped first: the write takes the lock that serialises appenders, and only
    # then is the frontier read that the new entries extend.
    bumped = conn.execute(_BUMP, {"count": len(entries)}).one_or_none()
    if bumped is None:
        raise StorageError("the access log is not initialised")
    first = int(bumped[0]) - len(entries)
    frontier = _split_frontier(bytes(bumped[1]), first)
    nodes: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for index, new in enumerate(entries, start=first):
        leaf = new.leaf(index)
        frontier, completed = merkle.extend_frontier(frontier, index, merkle.leaf_hash(leaf))
        nodes.extend({"level": lv, "idx": at, "hash": value} for lv, at, value in completed)
        rows.append(
            {
                "idx": index,
                "leaf": leaf,
                "created_at": new.time,
                "document_id": _document_of(new),
                "key_id": transparency.logged_key(new.action, new.outcome, new.extra, new.targets),
            }
        )
    conn.execute(_ADD_NODES, nodes)
    conn.execute(_ADD_ENTRIES, rows)
    conn.execute(
        _SET_HEAD,
        {
            "root": merkle.frontier_root(frontier),
            "frontier": b"".join(frontier),
            "time": entries[-1].time,
        },
    )
    return list(range(first, first + len(entries)))


def lock(db: Session) -> None:
    """Take the appenders' lock in ``db``'s transaction without appending: until it ends, no
    entry is added anywhere, and what the transaction reads next is current (a key rotation
    reads the active key under it, so two rotations cannot both start from one key)."""
    if db.connection().execute(_BUMP, {"count": 0}).one_or_none() is None:
        raise StorageError("the access log is not initialised")


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
    """Add one entry in ``db``'s transaction (not committed) and return its index."""
    new = NewEntry(action, actor, time, outcome, targets or {}, request_id, extra or {})
    return append_many(db, [new])[0]


def record(
    db: Session,
    action: Action,
    actor: UUID | str,
    *,
    clock: Clock,
    outcome: str = "ok",
    extra: Mapping[str, str] | None = None,
    request_id: str | None = None,
    **targets: UUID | str,
) -> int:
    """``append`` for services: the time from ``clock``, the request id from the context
    unless given (an entry written for another request's thread, by a group commit),
    targets as keyword arguments (ids only, never names or content). Services reach it through
    ``vault.services.uow``, which commits the entry with the action."""
    return append(
        db,
        action=action.value,
        actor=actor,
        time=clock(),
        outcome=outcome,
        targets={name: str(value) for name, value in targets.items()},
        request_id=request_id if request_id is not None else context.request_id.get(),
        extra=extra,
    )


@dataclass(frozen=True)
class Receipt:
    """An entry as its actor can keep it: with a checkpoint and an inclusion proof, it shows
    that the log holds exactly these bytes at this index."""

    index: int
    leaf: bytes


def receipt(db: Session, index: int) -> Receipt:
    """The receipt for entry ``index``, also before the transaction that appended it commits."""
    leaf = db.execute(select(col(AuditEntry.leaf)).where(col(AuditEntry.idx) == index)).scalar()
    if leaf is None:
        raise StorageError(f"access log entry {index} is missing")
    return Receipt(index, bytes(leaf))


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
