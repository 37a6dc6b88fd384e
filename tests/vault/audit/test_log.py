"""Access-log storage on SQLite and PostgreSQL: appends, proofs from stored nodes, offline
verification and what it catches, and concurrent appenders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from vault.audit import log, merkle
from vault.audit.verify import CHUNK_LEVEL, verify_log
from vault.settings import Settings
from vault.storage.database import connect, migrate
from vault.storage.models import AuditEntry, AuditHead, AuditNode

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    settings.data_dir.mkdir(parents=True)
    engine = connect(settings.resolved_database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def fill(engine: Engine, count: int) -> None:
    with Session(engine) as db:
        for i in range(count):
            log.append(
                db,
                action="document.content.read",
                actor="system",
                time=NOW,
                targets={"document": f"doc-{i}"},
            )
        db.commit()


def leaves(engine: Engine) -> list[bytes]:
    with Session(engine) as db:
        return list(db.exec(select(AuditEntry.leaf).order_by(col(AuditEntry.idx))).all())


def test_entries_are_canonical_json() -> None:
    assert log.canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_appends_build_the_rfc_tree(engine: Engine) -> None:
    fill(engine, 21)
    data = leaves(engine)
    reference = merkle.MemoryNodes()
    for leaf in data:
        reference.append(merkle.leaf_hash(leaf))
    with Session(engine) as db:
        size, root = log.head(db)
        assert size == 21
        assert root == merkle.root(reference, 21)
        head = db.get(AuditHead, 1)
        assert head is not None
        frontier = [reference.node(level, i) for level, i in merkle.frontier_nodes(21)]
        assert head.frontier == b"".join(frontier)
        for index in range(21):
            proof = log.inclusion_proof(db, index, 21)
            assert proof == merkle.inclusion_proof(reference, index, 21)
            assert merkle.verify_inclusion(merkle.leaf_hash(data[index]), index, 21, proof, root)
        for first in range(1, 22):
            proof = log.consistency_proof(db, first, 21)
            assert proof == merkle.consistency_proof(reference, first, 21)
            assert merkle.verify_consistency(first, 21, merkle.root(reference, first), root, proof)
    entry = json.loads(data[3])
    assert entry == {
        "index": 3,
        "time": "2026-11-29T12:00:00Z",
        "actor": "system",
        "action": "document.content.read",
        "outcome": "ok",
        "targets": {"document": "doc-3"},
    }
    report = verify_log(engine)
    assert report.ok, report.problem
    assert report.root == root


def test_an_action_that_rolls_back_leaves_no_entry(engine: Engine) -> None:
    fill(engine, 3)
    with Session(engine) as db:
        log.append(db, action="document.delete", actor="system", time=NOW)
        db.rollback()
    with Session(engine) as db:
        assert log.head(db)[0] == 3
    assert len(leaves(engine)) == 3
    assert verify_log(engine).ok


def _tamper_edit(db: Session) -> None:
    row = db.get(AuditEntry, 4)
    assert row is not None
    row.leaf = row.leaf.replace(b"doc-4", b"doc-9")
    db.add(row)


def _tamper_delete(db: Session) -> None:
    db.execute(delete(AuditEntry).where(col(AuditEntry.idx) == 4))


def _tamper_swap(db: Session) -> None:
    a, b = db.get(AuditEntry, 4), db.get(AuditEntry, 5)
    assert a is not None and b is not None  # noqa: PT018
    a.leaf, b.leaf = b.leaf, a.leaf
    db.add_all([a, b])


def _tamper_truncate(db: Session) -> None:
    db.execute(delete(AuditEntry).where(col(AuditEntry.idx) >= 8))


def _tamper_insert(db: Session) -> None:
    db.add(
        AuditEntry(idx=10, leaf=log.canonical({"index": 10, "action": "forged"}), created_at=NOW)
    )


def _tamper_head(db: Session) -> None:
    db.execute(update(AuditHead).values(root=b"\x00" * 32))


def _tamper_frontier(db: Session) -> None:
    # A wrong frontier would make every later append build a wrong tree.
    db.execute(update(AuditHead).values(frontier=b"\x00" * 64))


def _tamper_interior_node(db: Session) -> None:
    # The subtree of entries 0..7 (level 3): above the chunk when verify walks in chunks of 4.
    db.execute(
        update(AuditNode)
        .where(col(AuditNode.level) == 3, col(AuditNode.idx) == 0)
        .values(hash=b"\x00" * 32)
    )


@pytest.mark.parametrize("chunk_level", [CHUNK_LEVEL, 2])
@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (_tamper_edit, 4),
        (_tamper_delete, 4),
        (_tamper_swap, 4),
        (_tamper_truncate, 8),
        (_tamper_insert, 10),
        (_tamper_head, None),
        (_tamper_frontier, None),
        (_tamper_interior_node, 7),
    ],
)
def test_verify_names_the_first_entry_that_does_not_match(
    engine: Engine, tamper: object, first_bad: int | None, chunk_level: int
) -> None:
    fill(engine, 10)
    assert verify_log(engine, chunk_level=chunk_level, workers=1).ok
    with Session(engine) as db:
        tamper(db)  # type: ignore[operator]
        db.commit()
    report = verify_log(engine, chunk_level=chunk_level, workers=1)
    assert not report.ok
    assert report.first_bad_index == first_bad, report.problem


def test_verify_in_chunks_checks_every_checkpoint_size(engine: Engine) -> None:
    """Small chunks exercise what a real log only meets past 16,384 entries: subtrees above
    the chunk, checkpoints inside and at the edge of a chunk, a last partial chunk."""
    fill(engine, 37)
    reference = merkle.MemoryNodes()
    for leaf in leaves(engine):
        reference.append(merkle.leaf_hash(leaf))
    roots = {size: merkle.root(reference, size) for size in range(38)}
    for chunk_level in (0, 1, 2, 3, 5, CHUNK_LEVEL):
        report = verify_log(engine, checkpoint_roots=roots, chunk_level=chunk_level, workers=1)
        assert report.ok, (chunk_level, report.problem)
        assert report.checkpoints == 38
    for wrong in (0, 4, 19, 32, 37):
        forged = {**roots, wrong: roots[(wrong + 1) % 38]}
        report = verify_log(engine, checkpoint_roots=forged, chunk_level=2, workers=1)
        assert report.problem == f"the checkpoint at size {wrong} does not match the entries"
    beyond = verify_log(engine, checkpoint_roots={**roots, 40: bytes(32)}, chunk_level=2, workers=1)
    assert beyond.problem == "a checkpoint claims size 40, beyond the log"


def test_verify_shares_chunks_between_worker_processes(engine: Engine) -> None:
    """The path a large log takes: chunks checked in spawned worker processes, in order."""
    fill(engine, 45)
    reference = merkle.MemoryNodes()
    for leaf in leaves(engine):
        reference.append(merkle.leaf_hash(leaf))
    roots = {size: merkle.root(reference, size) for size in range(46)}
    report = verify_log(engine, checkpoint_roots=roots, chunk_level=2, workers=2)
    assert report.ok, report.problem
    with Session(engine) as db:
        _tamper_edit(db)
        db.commit()
    report = verify_log(engine, checkpoint_roots=roots, chunk_level=2, workers=2)
    assert report.first_bad_index == 4, report.problem


_APPENDER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from sqlmodel import Session
    from vault.audit import log
    from vault.storage.database import connect

    engine = connect(sys.argv[1])
    for i in range(int(sys.argv[2])):
        with Session(engine) as db:
            log.append(db, action="test.append", actor=sys.argv[3], time=datetime.now(UTC))
            db.commit()
    """
)


def test_concurrent_appenders_make_one_gap_free_log(engine: Engine, settings: Settings) -> None:
    url = settings.resolved_database_url
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, url, "40", f"worker-{n}"],
            cwd=Path(__file__).resolve().parents[3],
            env=dict(os.environ),
        )
        for n in range(4)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
    data = leaves(engine)
    assert [json.loads(leaf)["index"] for leaf in data] == list(range(160))
    report = verify_log(engine)
    assert report.ok, report.problem
    assert report.size == 160


def test_append_many_is_the_same_log_as_one_by_one(engine: Engine, settings: Settings) -> None:
    batch = [
        log.NewEntry(action="document.list", actor="system", time=NOW, targets={"case": f"c{i}"})
        for i in range(13)
    ]
    fill(engine, 3)
    with Session(engine) as db:
        assert log.append_many(db, batch) == list(range(3, 16))
        assert log.append_many(db, []) == []
        db.commit()
    data = leaves(engine)
    assert [json.loads(leaf)["targets"] for leaf in data[3:]] == [e.targets for e in batch]
    reference = merkle.MemoryNodes()
    for leaf in data:
        reference.append(merkle.leaf_hash(leaf))
    with Session(engine) as db:
        assert log.head(db) == (16, merkle.root(reference, 16))
    assert verify_log(engine).ok


def test_upgrading_an_existing_log_computes_its_frontier(settings: Settings) -> None:
    """Logs written before the head kept a frontier get one from their stored nodes."""
    from alembic import command

    from vault.storage.database import _alembic_config

    settings.data_dir.mkdir(parents=True)
    engine = connect(settings.resolved_database_url)
    try:
        command.upgrade(_alembic_config(engine), "0004")
        reference = merkle.MemoryNodes()
        leaves_ = [log.canonical({"index": i, "action": "old"}) for i in range(13)]
        for leaf in leaves_:
            reference.append(merkle.leaf_hash(leaf))
        with engine.begin() as conn:
            conn.execute(
                AuditEntry.__table__.insert(),  # type: ignore[attr-defined]
                [{"idx": i, "leaf": leaf, "created_at": NOW} for i, leaf in enumerate(leaves_)],
            )
            conn.execute(
                AuditNode.__table__.insert(),  # type: ignore[attr-defined]
                [{"level": lv, "idx": i, "hash": h} for (lv, i), h in reference.nodes.items()],
            )
            conn.execute(
                update(AuditHead.__table__).values(  # type: ignore[attr-defined]
                    size=13, root=merkle.root(reference, 13)
                )
            )
        migrate(engine)
        assert verify_log(engine).ok
        fill(engine, 1)  # appends carry on from the computed frontier
        reference.append(merkle.leaf_hash(leaves(engine)[13]))
        with Session(engine) as db:
            assert log.head(db) == (14, merkle.root(reference, 14))
        assert verify_log(engine).ok
    finally:
        engine.dispose()
