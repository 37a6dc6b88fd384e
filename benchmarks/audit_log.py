"""Access-log performance on SQLite: append throughput, full verification, proof latency.

    python -m benchmarks.audit_log [--entries N] [--json FILE]

The log is first filled to N entries by a bulk loader that writes exactly the rows
``vault.audit.log.append`` would (entries, every complete-subtree node, the head), computed with
``vault.audit.merkle`` in O(log n) memory, because appending a million entries one by one
through the service layer would take far longer than the measurements themselves. Then:

- ``vault.audit.verify.verify_log`` over all N entries (must report ok);
- inclusion and consistency proofs (fresh session each, as the API does) for random queries at
  tree size N, each proof checked once against the root;
- ``log.append`` throughput on top of the N-entry log: batched (``--batch`` appends per
  transaction) and one append per transaction.

Prints a Markdown table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from benchmarks.common import machine
from vault.audit import log, merkle
from vault.audit.verify import verify_log
from vault.storage.database import connect, migrate
from vault.storage.models import AuditEntry, AuditHead, AuditNode

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
_CHUNK = 50_000


class _Frontier:
    """A ``NodeStore`` that only remembers the last node completed at each level: the only
    nodes ``merkle.nodes_completed_by`` ever asks for while appending in order."""

    def __init__(self) -> None:
        self.last: dict[int, tuple[int, bytes]] = {}

    def node(self, level: int, index: int) -> bytes:
        stored_index, value = self.last[level]
        _check(stored_index == index, "the bulk loader asked for a node out of order")
        return value


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


def _entry(index: int) -> dict[str, Any]:
    return {
        "index": index,
        "time": NOW.isoformat().replace("+00:00", "Z"),
        "actor": "3f1c2a9e-5b7d-4e21-9a0c-7d2f9b8e6a41",
        "action": "document.content.read",
        "outcome": "ok",
        "targets": {
            "document": f"00000000-0000-4000-8000-{index:012d}",
            "case": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
        },
        "request_id": f"{index:032x}",
    }


def bulk_fill(engine: Engine, count: int) -> bytes:
    """Write ``count`` entries, their nodes and the head directly; return the root."""
    frontier = _Frontier()
    entries: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            if entries:
                conn.execute(insert(AuditEntry), entries)
            if nodes:
                conn.execute(insert(AuditNode), nodes)
        entries.clear()
        nodes.clear()

    for index in range(count):
        entry = _entry(index)
        leaf = log.canonical(entry)
        completed = list(merkle.nodes_completed_by(frontier, index, merkle.leaf_hash(leaf)))
        for level, position, value in completed:
            frontier.last[level] = (position, value)
            nodes.append({"level": level, "idx": position, "hash": value})
        entries.append(
            {
                "idx": index,
                "leaf": leaf,
                "created_at": NOW,
                "document_id": uuid.UUID(entry["targets"]["document"]),
            }
        )
        if len(entries) >= _CHUNK:
            flush()
    flush()
    # The frontier of ``count`` leaves: the last complete subtree at each set bit's level.
    parts = [frontier.last[level][1] for level, _ in merkle.frontier_nodes(count)]
    root = merkle.frontier_root(parts)
    with Session(engine) as db:
        db.execute(
            update(AuditHead)
            .where(col(AuditHead.id) == 1)
            .values(size=count, root=root, frontier=b"".join(parts))
        )
        db.commit()
        with Session(engine) as check:
            _check(merkle.root(log.DbNodes(check), count) == root, "bulk fill root differs")
    return root


def _append(db: Session) -> None:
    log.append(
        db,
        action="document.content.read",
        actor="3f1c2a9e-5b7d-4e21-9a0c-7d2f9b8e6a41",
        time=datetime.now(UTC),
        targets={"document": "00000000-0000-4000-8000-000000000001"},
        request_id="0" * 32,
    )


def appends_batched(engine: Engine, batches: int, batch: int) -> float:
    """``log.append_many``: ``batch`` entries in one call and one transaction."""
    start = time.perf_counter()
    for _ in range(batches):
        entries = [
            log.NewEntry(
                action="document.content.read",
                actor="3f1c2a9e-5b7d-4e21-9a0c-7d2f9b8e6a41",
                time=datetime.now(UTC),
                targets={"document": "00000000-0000-4000-8000-000000000001"},
                request_id="0" * 32,
            )
            for _ in range(batch)
        ]
        with Session(engine) as db:
            log.append_many(db, entries)
            log.commit(db)
    return batches * batch / (time.perf_counter() - start)


def appends_repeated(engine: Engine, batches: int, batch: int) -> float:
    """``log.append`` called ``batch`` times in one transaction, as a service would."""
    start = time.perf_counter()
    for _ in range(batches):
        with Session(engine) as db:
            for _ in range(batch):
                _append(db)
            log.commit(db)
    return batches * batch / (time.perf_counter() - start)


def appends_single(engine: Engine, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        with Session(engine) as db:
            _append(db)
            log.commit(db)
    return count / (time.perf_counter() - start)


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def proof_latency(engine: Engine, size: int, root: bytes, queries: int) -> dict[str, Any]:
    rng = random.Random(6962)  # noqa: S311 - benchmark input, not security
    inclusion: list[float] = []
    consistency: list[float] = []
    for i in range(queries):
        index = rng.randrange(size)
        start = time.perf_counter()
        with Session(engine) as db:
            proof = log.inclusion_proof(db, index, size)
        inclusion.append(time.perf_counter() - start)
        if i < 20:
            leaf = merkle.leaf_hash(log.canonical(_entry(index)))
            _check(merkle.verify_inclusion(leaf, index, size, proof, root), "bad inclusion")
        first = rng.randrange(1, size + 1)
        start = time.perf_counter()
        with Session(engine) as db:
            proof = log.consistency_proof(db, first, size)
        consistency.append(time.perf_counter() - start)
        if i < 20:
            with Session(engine) as db:
                first_root = merkle.root(log.DbNodes(db), first)
            ok = merkle.verify_consistency(first, size, first_root, root, proof)
            _check(ok, "bad consistency proof")
    return {"inclusion": _summary(inclusion), "consistency": _summary(consistency)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="appends per transaction")
    parser.add_argument("--batches", type=int, default=20, help="batched transactions to time")
    parser.add_argument("--single", type=int, default=2000, help="single-append transactions")
    parser.add_argument("--queries", type=int, default=1000, help="random proof queries")
    parser.add_argument("--json", type=Path, default=Path("audit_log_benchmark.json"))
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"machine": machine(), "entries": args.entries}
    with tempfile.TemporaryDirectory(prefix="vault-audit-bench-") as tmp:
        engine = connect(f"sqlite:///{tmp}/vault.db")
        migrate(engine)
        start = time.perf_counter()
        root = bulk_fill(engine, args.entries)
        results["bulk_fill_s"] = time.perf_counter() - start
        print(f"filled {args.entries} entries in {results['bulk_fill_s']:.1f} s", file=sys.stderr)

        start = time.perf_counter()
        report = verify_log(engine)
        results["verify_s"] = time.perf_counter() - start
        _check(report.ok and report.size == args.entries, f"verify failed: {report}")
        print(f"verified in {results['verify_s']:.1f} s", file=sys.stderr)

        results["proofs"] = proof_latency(engine, args.entries, root, args.queries)
        results["appends_batched_per_s"] = appends_batched(engine, args.batches, args.batch)
        results["appends_repeated_per_s"] = appends_repeated(engine, args.batches, args.batch)
        results["appends_single_per_s"] = appends_single(engine, args.single)
        results["append_batch"] = args.batch
        _check(verify_log(engine).ok, "the log does not verify after the appends")
        engine.dispose()

    proofs = results["proofs"]
    rows = [
        (f"append, batched (`append_many`, {args.batch} per transaction)",
         f"{results['appends_batched_per_s']:,.0f} /s"),
        (f"append, {args.batch} `append` calls per transaction",
         f"{results['appends_repeated_per_s']:,.0f} /s"),
        ("append, one per transaction", f"{results['appends_single_per_s']:,.0f} /s"),
        (f"full verify at {args.entries:,} entries", f"{results['verify_s']:.2f} s"),
        ("inclusion proof, median / p99",
         f"{proofs['inclusion']['median_ms']:.2f} / {proofs['inclusion']['p99_ms']:.2f} ms"),
        ("consistency proof, median / p99",
         f"{proofs['consistency']['median_ms']:.2f} / {proofs['consistency']['p99_ms']:.2f} ms"),
    ]  # fmt: skip
    print("| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
