"""Rolling a vault's database back, as whoever can write it could: a whole copy taken earlier
put back (``snapshot`` and ``restore``, on SQLite and PostgreSQL alike: every row of every
table), or the access log cut back or forked and the head, nodes and checkpoints edited to
match (``rewrite_log``), so that the database is internally consistent and every stored
checkpoint in it still verifies."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from vault.audit import log, merkle
from vault.storage.models import AuditCheckpoint, AuditEntry, AuditHead, AuditNode

__all__ = ["Snapshot", "fork_last_entry", "restore", "rewrite_log", "snapshot"]

Snapshot = dict[str, list[dict[str, Any]]]

_ENTRIES = AuditEntry.__table__  # type: ignore[attr-defined]  # SQLModel sets it at runtime
_NODES = AuditNode.__table__  # type: ignore[attr-defined]  # as above
_HEAD = AuditHead.__table__  # type: ignore[attr-defined]  # as above
_CHECKPOINTS = AuditCheckpoint.__table__  # type: ignore[attr-defined]  # as above


def snapshot(engine: Engine) -> Snapshot:
    """Every row of every table of the vault's schema."""
    with engine.connect() as conn:
        return {
            table.name: [dict(row._mapping) for row in conn.execute(sa.select(table))]
            for table in SQLModel.metadata.sorted_tables
        }


def restore(engine: Engine, snap: Snapshot) -> None:
    """Put ``snap`` back in place of everything in the database, in one transaction."""
    tables = SQLModel.metadata.sorted_tables
    with engine.begin() as conn:
        for table in reversed(tables):
            conn.execute(sa.delete(table))
        for table in tables:
            if snap[table.name]:
                conn.execute(sa.insert(table), snap[table.name])


def rewrite_log(engine: Engine, size: int, *, forge_last: bool = False) -> None:
    """Cut the log back to its first ``size`` entries (with ``forge_last``, the last of them
    rewritten too: a fork at that size), and make the nodes, the head and the checkpoints
    agree: what an editor of the database who wants it to verify would do."""
    with engine.begin() as conn:
        rows = [
            dict(row._mapping)
            for row in conn.execute(
                sa.select(_ENTRIES).where(_ENTRIES.c.idx < size).order_by(_ENTRIES.c.idx)
            )
        ]
        assert len(rows) == size
        if forge_last:
            rows[-1]["leaf"] = fork_last_entry(bytes(rows[-1]["leaf"]))
        frontier: list[bytes] = []
        nodes: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            frontier, completed = merkle.extend_frontier(
                frontier, index, merkle.leaf_hash(bytes(row["leaf"]))
            )
            nodes.extend({"level": lv, "idx": at, "hash": value} for lv, at, value in completed)
        conn.execute(sa.delete(_ENTRIES))
        conn.execute(sa.delete(_NODES))
        if rows:
            conn.execute(sa.insert(_ENTRIES), rows)
        if nodes:
            conn.execute(sa.insert(_NODES), nodes)
        conn.execute(
            sa.update(_HEAD)
            .where(_HEAD.c.id == 1)
            .values(size=size, root=merkle.frontier_root(frontier), frontier=b"".join(frontier))
        )
        # Checkpoints of the trees that are gone (or, forged, of the one replaced) go with them.
        gone = _CHECKPOINTS.c.size >= size if forge_last else _CHECKPOINTS.c.size > size
        conn.execute(sa.delete(_CHECKPOINTS).where(gone))


def fork_last_entry(leaf: bytes) -> bytes:
    """The same entry (same index) saying something else."""
    entry = json.loads(leaf)
    entry["outcome"] = "denied" if entry.get("outcome") != "denied" else "ok"
    return log.canonical(entry)
