"""Checking the access log against itself: every entry, every stored subtree hash, the head,
and the roots of signed checkpoints, recomputed from the entries alone.

The log is walked in aligned chunks of 2**``CHUNK_LEVEL`` entries. Inside a chunk every stored
node is recomputed a level at a time and compared as whole lists, so the per-entry Python work
is one parse and one hash, and memory is bounded by the chunk whatever the log's size. Chunks
are independent, so a large log is split across worker processes; the parent combines the
chunks' roots, checks the few stored nodes above them, and every checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ClauseElement
from sqlmodel import col

from vault.audit import merkle
from vault.errors import StorageError
from vault.storage.database import connect
from vault.storage.models import AuditEntry, AuditHead, AuditNode

__all__ = ["CHUNK_LEVEL", "VerifyReport", "verify_log"]

_log = logging.getLogger(__name__)

CHUNK_LEVEL = 14
# Below this many chunks, starting worker processes costs more than it saves.
_PARALLEL_FROM = 8


@dataclass
class VerifyReport:
    size: int
    root: bytes
    problem: str | None = None
    first_bad_index: int | None = None
    checkpoints: int = 0
    pinned: int | None = None  # the size of the checkpoint pinned outside the database

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class _Chunk:
    """What one chunk's check found: its entry count, the first problem in it, and the
    frontiers (inside the chunk) at the sizes the parent asked for."""

    base: int
    count: int
    problem: tuple[int, str] | None = None  # (entry, what is wrong with it)
    frontiers: dict[int, list[bytes]] = field(default_factory=dict)


def _raw_rows(conn: Connection, statement: ClauseElement) -> list[Any]:
    """The rows of ``statement`` as the database driver returns them. SQLAlchemy's result layer
    costs about three times the driver's own fetch, which would dominate verifying a million
    entries. The statements here carry only integers the verifier computed, rendered inline."""
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open connection: never None
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _stored(conn: Connection, level: int, first: int, end: int) -> list[tuple[int, bytes]]:
    rows = _raw_rows(
        conn,
        select(col(AuditNode.idx), col(AuditNode.hash))
        .where(col(AuditNode.level) == level, col(AuditNode.idx) >= first, col(AuditNode.idx) < end)
        .order_by(col(AuditNode.idx)),
    )
    return [(idx, bytes(value)) for idx, value in rows]


def _first_difference(
    stored: Sequence[tuple[int, bytes]], first: int, computed: Sequence[bytes]
) -> int | None:
    """The first position where the stored (index, hash) rows are not ``computed`` at indices
    ``first``, ``first + 1``, ...; None when they match exactly."""
    expected = list(zip(range(first, first + len(computed)), computed, strict=True))
    if stored == expected:
        return None
    return next(
        (p for p, (row, want) in enumerate(zip(stored, expected, strict=False)) if row != want),
        min(len(stored), len(expected)),
    )


def _mismatch(conn: Connection, level: int, first: int, computed: list[bytes]) -> int | None:
    """Where the stored nodes of ``level`` from ``first`` stop matching ``computed``."""
    hashes = _raw_rows(
        conn,
        select(col(AuditNode.hash))
        .where(
            col(AuditNode.level) == level,
            col(AuditNode.idx) >= first,
            col(AuditNode.idx) < first + len(computed),
        )
        .order_by(col(AuditNode.idx)),
    )
    # (level, idx) is the primary key, so as many rows as indices in the range means every
    # index once; only a mismatch pays for reading the indices too.
    if len(hashes) == len(computed) and [bytes(h) for (h,) in hashes] == computed:
        return None
    return _first_difference(_stored(conn, level, first, first + len(computed)), first, computed)


def _check_chunk(
    conn: Connection, base: int, end: int, chunk_level: int, offsets: Sequence[int]
) -> _Chunk:
    """Check entries ``base`` to ``end - 1`` (one chunk) and every stored node inside the
    chunk that they complete, and report the frontier after each of ``offsets`` entries."""
    rows = _raw_rows(
        conn,
        select(col(AuditEntry.idx), col(AuditEntry.leaf))
        .where(col(AuditEntry.idx) >= base, col(AuditEntry.idx) < end)
        .order_by(col(AuditEntry.idx)),
    )
    problems: list[tuple[int, int, str]] = []  # (entry, rank, problem): the earliest wins
    count = len(rows)
    if [idx for idx, _ in rows] != list(range(base, base + count)):
        count = next(p for p, (idx, _) in enumerate(rows) if idx != base + p)
    leaves = [bytes(leaf) for _, leaf in rows[:count]]
    for position, leaf in enumerate(leaves):
        index = base + position
        try:
            claimed = orjson.loads(leaf)["index"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            problems.append((index, 1, f"entry {index} is not a log entry"))
            break
        if claimed != index:
            problems.append((index, 1, f"entry {index} claims to be entry {claimed}"))
            break
    # merkle.leaf_hash and merkle.node_hash, inlined: at a million entries the function calls
    # alone would cost a second.
    sha256 = hashlib.sha256
    levels = [[sha256(b"\x00" + leaf).digest() for leaf in leaves]]
    for level in range(chunk_level + 1):
        computed = levels[level]
        first = base >> level
        # Only the nodes the entries present should have: stored nodes past the last entry
        # mean a truncated log, which the parent reports by name.
        if (gap := _mismatch(conn, level, first, computed)) is not None:
            # Named by the entry that completes the subtree, as an appender would meet it.
            entry = ((first + gap + 1) << level) - 1
            problems.append((entry, 2, f"stored hashes disagree with entry {entry}"))
        if len(computed) < 2:
            break
        levels.append(
            [
                sha256(b"\x01" + left + right).digest()
                for left, right in zip(computed[0::2], computed[1::2], strict=False)
            ]
        )
    frontiers = {
        offset: [levels[level][i] for level, i in merkle.frontier_nodes(offset)]
        for offset in offsets
        if offset <= count
    }
    found = _Chunk(base, count, frontiers=frontiers)
    if problems:
        entry, _, problem = min(problems)
        found.problem = (entry, problem)
    return found


_worker_engine: Engine | None = None


def _start_worker(url: str) -> None:
    global _worker_engine  # one engine per worker process, made once
    _worker_engine = connect(url, check=False)


def _check_chunk_in_worker(job: tuple[int, int, int, Sequence[int]]) -> _Chunk:
    if _worker_engine is None:
        raise StorageError("verification worker started without a database")
    with _worker_engine.connect() as conn:
        return _check_chunk(conn, *job)


def _chunks(
    engine: Engine, conn: Connection, jobs: list[tuple[int, int, int, list[int]]], workers: int
) -> Iterator[_Chunk]:
    """The chunks' results in order, computed here or by worker processes."""
    if workers <= 1 or len(jobs) < min(_PARALLEL_FROM, workers * 2):
        for job in jobs:
            yield _check_chunk(conn, *job)
        return
    url = engine.url.render_as_string(hide_password=False)
    # spawn, not fork: the caller may hold connections and threads a fork would copy.
    context = multiprocessing.get_context("spawn")
    done = 0
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(url,)
        ) as pool:
            try:
                for chunk in pool.map(_check_chunk_in_worker, jobs):
                    yield chunk
                    done += 1
            finally:
                pool.shutdown(cancel_futures=True)
    except (BrokenProcessPool, OSError) as exc:
        # Workers are only a speed-up: whatever stopped them, finish here.
        _log.warning("verification workers failed (%s); continuing in one process", exc)
        for job in jobs[done:]:
            yield _check_chunk(conn, *job)


def verify_log(
    engine: Engine,
    *,
    checkpoint_roots: Mapping[int, bytes] | None = None,
    chunk_level: int = CHUNK_LEVEL,
    workers: int | None = None,
) -> VerifyReport:
    """Recompute every leaf hash, every stored subtree hash and the root from the entries
    alone, and compare them with the head and with the roots of ``checkpoint_roots`` (tree
    size -> root, from checkpoints whose signatures were checked). ``workers`` processes share
    the chunks of a large log (default: one per CPU)."""
    chunk_size = 1 << chunk_level
    wanted = dict(checkpoint_roots or {})
    with engine.connect() as conn:
        row = conn.execute(
            select(col(AuditHead.size), col(AuditHead.root), col(AuditHead.frontier)).where(
                col(AuditHead.id) == 1
            )
        ).one_or_none()
        if row is None:
            raise StorageError("the access log is not initialised")
        size, stored_root, stored_frontier = int(row[0]), bytes(row[1]), bytes(row[2])

        def bad(problem: str, index: int | None = None) -> VerifyReport:
            return VerifyReport(size, stored_root, problem, index)

        if 0 in wanted and wanted.pop(0) != merkle.EMPTY_ROOT:
            return bad("the checkpoint at size 0 does not match the entries")
        beyond = [s for s in wanted if s > size]
        jobs = []
        for base in range(0, size, chunk_size):
            end = min(base + chunk_size, size)
            offsets = sorted(s - base for s in wanted if base < s <= end)
            jobs.append((base, end, chunk_level, [*offsets, end - base]))
        upper: list[bytes] = []  # the frontier of the complete chunks checked so far
        frontier: list[bytes] = []
        for chunk in _chunks(engine, conn, jobs, workers or os.cpu_count() or 1):
            expected = min(chunk_size, size - chunk.base)
            if chunk.count < expected:
                present = chunk.base + chunk.count
                later = conn.execute(
                    select(func.count()).where(
                        col(AuditEntry.idx) > present, col(AuditEntry.idx) < size
                    )
                ).scalar_one()
                if not later:
                    return bad(f"the log should hold {size} entries but holds {present}", present)
                if chunk.problem is None or chunk.problem[0] >= present:
                    return bad(f"entry {present} is missing", present)
            if chunk.problem is not None:
                return bad(chunk.problem[1], chunk.problem[0])
            for offset, inner in sorted(chunk.frontiers.items()):
                checkpoint = chunk.base + offset
                if checkpoint in wanted and merkle.frontier_root([*upper, *inner]) != wanted.pop(
                    checkpoint
                ):
                    return bad(f"the checkpoint at size {checkpoint} does not match the entries")
            frontier = [*upper, *chunk.frontiers[expected]]
            if expected == chunk_size:
                upper, completed = merkle.extend_frontier(
                    upper, chunk.base >> chunk_level, chunk.frontiers[expected][0]
                )
                frontier = upper
                for level, index, value in completed[1:]:
                    if _stored(conn, chunk_level + level, index, index + 1) != [(index, value)]:
                        entry = ((index + 1) << (chunk_level + level)) - 1
                        return bad(f"stored hashes disagree with entry {entry}", entry)
        extra = conn.execute(
            select(func.min(col(AuditEntry.idx))).where(col(AuditEntry.idx) >= size)
        ).scalar_one_or_none()
        if extra is not None:
            # Appends that committed while this ran are fine; an entry past the head is not.
            now = conn.execute(
                select(col(AuditHead.size)).where(col(AuditHead.id) == 1)
            ).scalar_one()
            if extra >= now:
                return bad(f"entry {extra} is beyond the log's size of {now}", extra)
    if merkle.frontier_root(frontier) != stored_root:
        return bad("the stored root does not match the entries")
    if b"".join(frontier) != stored_frontier:
        return bad("the stored frontier does not match the entries")
    if beyond:
        return bad(f"a checkpoint claims size {min(beyond)}, beyond the log")
    return VerifyReport(size, stored_root, checkpoints=len(checkpoint_roots or {}))
