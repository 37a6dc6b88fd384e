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
from vault.settings import Settings
from vault.storage.database import connect, migrate
from vault.storage.models import AuditEntry, AuditHead

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
        nodes = log.DbNodes(db)
        for index in range(21):
            proof = merkle.inclusion_proof(nodes, index, 21)
            assert merkle.verify_inclusion(merkle.leaf_hash(data[index]), index, 21, proof, root)
        for first in range(1, 22):
            proof = merkle.consistency_proof(nodes, first, 21)
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
    report = log.verify(engine)
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
    assert log.verify(engine).ok


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


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (_tamper_edit, 4),
        (_tamper_delete, 4),
        (_tamper_swap, 4),
        (_tamper_truncate, 8),
        (_tamper_insert, 10),
        (_tamper_head, None),
    ],
)
def test_verify_names_the_first_entry_that_does_not_match(
    engine: Engine, tamper: object, first_bad: int | None
) -> None:
    fill(engine, 10)
    with Session(engine) as db:
        tamper(db)  # type: ignore[operator]
        db.commit()
    report = log.verify(engine)
    assert not report.ok
    assert report.first_bad_index == first_bad, report.problem


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
    report = log.verify(engine)
    assert report.ok, report.problem
    assert report.size == 160
