"""Retention and legal hold: a document is crypto-shredded when its case's retention period is
over and not before, by the ``system`` actor with one ``retention.delete`` entry each; a legal
hold on the case or the document stops every deletion, retention's and an editor's alike; and
after a run nothing of the document is left in any file of the data directory.

Time is a clock the test moves (``Clock``), never a sleep.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from tests.conftest import World
from vault.errors import InvalidInput, LegalHold, NotFound
from vault.services.cases import CaseService, Retention
from vault.services.documents import NewDocument
from vault.services.holds import HoldService
from vault.services.retention import (
    Outcome,
    RetentionSchedule,
    RetentionService,
)
from vault.storage.models import AuditEntry, Document, Redaction, WrappedKey

DAY = timedelta(days=1)


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store(
    world: World, content: bytes = b"minutes of the meeting", title: str = "minutes"
) -> uuid.UUID:
    return world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[content],
        document=NewDocument(title=title),
    ).id


def services(world: World, clock: Clock) -> tuple[CaseService, HoldService, RetentionService]:
    engine, blobs = world.vault.engine, world.vault.blobs
    return (
        CaseService(engine=engine, clock=clock),
        HoldService(engine=engine, clock=clock),
        RetentionService(engine=engine, blobs=blobs, clock=clock),
    )


def exists(world: World, doc_id: uuid.UUID) -> bool:
    with world.db() as db:
        return db.get(Document, doc_id) is not None


def entries(world: World, action: str) -> list[dict[str, object]]:
    with world.db() as db:
        leaves = [json.loads(e.leaf) for e in db.exec(select(AuditEntry))]
    return [e for e in leaves if e["action"] == action]


# -- when documents are due --------------------------------------------------------------------


def test_a_document_is_due_its_retention_days_after_its_upload(world: World, clock: Clock) -> None:
    cases, _, retention = services(world, clock)
    doc_id = store(world)
    changed = cases.update(world.admin, world.case_id, retention=Retention(30, "upload"))
    assert (changed.case.retain_days, changed.due_now) == (30, 0)
    clock.advance(29 * DAY)
    assert retention.run().items == []
    assert exists(world, doc_id)
    clock.advance(DAY)
    [item] = retention.run().items
    assert (item.due.document_id, item.outcome) == (doc_id, Outcome.DELETED)
    assert not exists(world, doc_id)
    with world.db() as db:
        assert db.exec(select(WrappedKey).where(WrappedKey.subject_id == doc_id)).all() == []
    [entry] = entries(world, "retention.delete")
    assert entry["actor"] == "system"
    assert entry["targets"] == {"document": str(doc_id), "case": str(world.case_id)}
    assert entries(world, "case.retention.set")[0]["retain_days"] == "30"
    assert retention.run().items == []  # nothing twice


def test_until_closed_nothing_is_due_while_the_case_is_open(world: World, clock: Clock) -> None:
    cases, _, retention = services(world, clock)
    first = store(world)
    cases.update(world.admin, world.case_id, retention=Retention(7, "close"))
    clock.advance(1000 * DAY)
    assert retention.due() == []  # open: kept however old
    closed = cases.update(world.admin, world.case_id, closed=True)
    assert closed.case.closed_at == clock.now
    assert closed.due_now == 0  # seven days of grace
    clock.advance(6 * DAY)
    assert retention.due() == []
    # Reopening stops the clock; closing again restarts it.
    cases.update(world.admin, world.case_id, closed=False)
    clock.advance(30 * DAY)
    assert retention.due() == []
    cases.update(world.admin, world.case_id, closed=True)
    clock.advance(7 * DAY)
    [due] = retention.due()
    assert (due.document_id, due.due_at) == (first, clock.now)
    assert [e["action"] for e in entries(world, "case.close") + entries(world, "case.reopen")] == [
        "case.close",
        "case.close",
        "case.reopen",
    ]


def test_a_document_stored_after_the_closing_gets_its_own_grace(world: World, clock: Clock) -> None:
    cases, _, retention = services(world, clock)
    cases.update(world.admin, world.case_id, retention=Retention(0, "close"), closed=True)
    clock.advance(DAY)
    later = store(world)  # stored (by the real clock) before ``clock.now``: due at once
    assert [d.document_id for d in retention.due()] == [later]
    cases.update(world.admin, world.case_id, retention=Retention(10, "close"))
    assert retention.due() == []  # due ten days after its upload, which was after the closing


def test_a_dry_run_lists_what_is_due_and_changes_nothing(world: World, clock: Clock) -> None:
    cases, _, retention = services(world, clock)
    doc_id = store(world)
    cases.update(world.admin, world.case_id, retention=Retention(1, "upload"))
    clock.advance(2 * DAY)
    with world.db() as db:
        before = len(db.exec(select(AuditEntry)).all())
    report = retention.run(dry_run=True)
    assert [(i.due.document_id, i.outcome) for i in report.items] == [(doc_id, Outcome.DUE)]
    assert report.dry_run
    assert exists(world, doc_id)
    with world.db() as db:
        assert len(db.exec(select(AuditEntry)).all()) == before


def test_retention_settings_are_checked_and_for_administrators(world: World, clock: Clock) -> None:
    cases, _, _ = services(world, clock)
    with pytest.raises(NotFound):
        cases.update(world.editor, world.case_id, retention=Retention(30, "upload"))
    with pytest.raises(InvalidInput, match="1-36500"):
        cases.update(world.admin, world.case_id, retention=Retention(0, "upload"))
    with pytest.raises(InvalidInput):
        cases.update(world.admin, world.case_id, retention=Retention(36_501, "close"))
    with pytest.raises(InvalidInput):
        cases.update(world.admin, world.case_id, retention=Retention(3, "whenever"))
    with pytest.raises(InvalidInput, match="nothing to change"):
        cases.update(world.admin, world.case_id)
    cases.update(world.admin, world.case_id, retention=Retention(30, "upload"))
    cleared = cases.update(world.admin, world.case_id, retention=None)
    assert (cleared.case.retain_days, cleared.case.retain_from) == (None, None)
    cases.update(world.admin, world.case_id, retention=None)  # no change: not logged again
    assert [e["retain_days"] for e in entries(world, "case.retention.set")] == ["30", "none"]


def test_shortening_the_period_says_how_many_documents_go_at_the_next_run(
    world: World, clock: Clock
) -> None:
    cases, _, _ = services(world, clock)
    store(world)
    store(world)
    clock.advance(40 * DAY)
    assert cases.update(world.admin, world.case_id, retention=Retention(365, "upload")).due_now == 0
    assert cases.update(world.admin, world.case_id, retention=Retention(30, "upload")).due_now == 2


# -- legal hold --------------------------------------------------------------------------------


def test_a_case_hold_stops_retention_and_an_editors_delete(world: World, clock: Clock) -> None:
    cases, holds, retention = services(world, clock)
    doc_id = store(world)
    cases.update(world.admin, world.case_id, retention=Retention(1, "upload"))
    hold = holds.set_case(world.editor, world.case_id, held=True)
    assert hold.changed
    assert hold.held_at == clock.now
    clock.advance(2 * DAY)
    [item] = retention.run().items
    assert (item.outcome, item.due.held) == (Outcome.HELD, "case")
    assert exists(world, doc_id)
    with pytest.raises(LegalHold) as refused:
        world.vault.documents.delete(world.editor, doc_id)
    assert refused.value.details == {"hold": "case"}
    assert exists(world, doc_id)
    assert entries(world, "document.delete") == []  # the refused delete left no entry
    released = holds.set_case(world.admin, world.case_id, held=False)
    assert released.changed
    assert released.held_at is None
    [item] = retention.run().items
    assert item.outcome == Outcome.DELETED
    assert [e["action"] for e in entries(world, "hold.set") + entries(world, "hold.release")] == [
        "hold.set",
        "hold.release",
    ]


def test_a_document_hold_keeps_that_document_only(world: World, clock: Clock) -> None:
    cases, holds, retention = services(world, clock)
    kept, gone = store(world), store(world)
    holds.set_document(world.editor, kept, held=True)
    cases.update(world.admin, world.case_id, retention=Retention(1, "upload"))
    clock.advance(2 * DAY)
    outcomes = {i.due.document_id: i.outcome for i in retention.run().items}
    assert outcomes == {kept: Outcome.HELD, gone: Outcome.DELETED}
    with pytest.raises(LegalHold) as refused:
        world.vault.documents.delete(world.editor, kept)
    assert refused.value.details == {"hold": "document"}
    # Releasing the case (not held) does not release the document.
    holds.set_case(world.admin, world.case_id, held=False)
    assert exists(world, kept)
    [entry] = entries(world, "hold.set")
    assert entry["targets"] == {"case": str(world.case_id), "document": str(kept)}
    holds.set_document(world.editor, kept, held=False)
    world.vault.documents.delete(world.editor, kept)
    assert not exists(world, kept)


def test_editors_of_the_case_and_administrators_set_holds(world: World, clock: Clock) -> None:
    _, holds, _ = services(world, clock)
    doc_id = store(world)
    outsider = world.add_user("eddie", world.editor.role, member=False)
    for who in (world.journalist, outsider):
        with pytest.raises(NotFound, match="no such case"):
            holds.set_case(who, world.case_id, held=True)
        with pytest.raises(NotFound, match="no such document"):
            holds.set_document(who, doc_id, held=True)
    with pytest.raises(NotFound):
        holds.set_document(world.editor, uuid.uuid4(), held=True)
    # An administrator need not read a case to preserve it.
    assert holds.set_document(world.admin, doc_id, held=True).changed
    assert not holds.set_document(world.editor, doc_id, held=True).changed  # set already
    assert not holds.set_case(world.editor, world.case_id, held=False).changed  # never set
    assert len(entries(world, "hold.set")) == 1
    assert entries(world, "hold.release") == []


# -- runs that overlap -------------------------------------------------------------------------


def test_a_hold_set_after_a_run_listed_a_document_is_still_seen(world: World, clock: Clock) -> None:
    cases, holds, retention = services(world, clock)
    doc_id = store(world)
    cases.update(world.admin, world.case_id, retention=Retention(1, "upload"))
    clock.advance(2 * DAY)
    [due] = retention.due()
    holds.set_case(world.editor, world.case_id, held=True)  # between the listing and the shred
    assert retention._shred(due) == Outcome.HELD
    cases.update(world.admin, world.case_id, retention=Retention(30, "upload"))
    holds.set_case(world.editor, world.case_id, held=False)
    assert retention._shred(due) == Outcome.SKIPPED  # no longer due
    assert exists(world, doc_id)
    assert entries(world, "retention.delete") == []  # rolled back with what it recorded


def test_overlapping_runs_delete_each_document_once(world: World, clock: Clock) -> None:
    cases, _, _ = services(world, clock)
    docs = {store(world, f"page {n}".encode()) for n in range(4)}
    cases.update(world.admin, world.case_id, retention=Retention(1, "upload"))
    clock.advance(2 * DAY)
    runs = [
        RetentionService(engine=world.vault.engine, blobs=world.vault.blobs, clock=clock)
        for _ in range(2)
    ]
    listed = [run.due() for run in runs]  # both see every document as due
    results: list[list[Outcome]] = [[], []]

    def shred(n: int) -> None:
        results[n] = [runs[n]._shred(due) for due in listed[n]]

    threads = [threading.Thread(target=shred, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    outcomes = results[0] + results[1]
    assert outcomes.count(Outcome.DELETED) == 4
    assert outcomes.count(Outcome.SKIPPED) == 4
    assert {
        uuid.UUID(str(e["targets"]["document"])) for e in entries(world, "retention.delete")
    } == docs  # type: ignore[index]
    assert len(entries(world, "retention.delete")) == 4
    assert not any(exists(world, d) for d in docs)


def test_the_schedule_runs_again_and_again_until_stopped(world: World, clock: Clock) -> None:
    cases, _, retention = services(world, clock)
    first = store(world)
    cases.update(world.admin, world.case_id, retention=Retention(1, "upload"))
    clock.advance(2 * DAY)
    schedule = RetentionSchedule(retention, interval_seconds=0.05)
    schedule.start()
    try:
        deadline = time.monotonic() + 10
        while exists(world, first) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not exists(world, first)  # the first run, at start
        second = store(world)
        clock.advance(2 * DAY)
        while exists(world, second) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not exists(world, second)  # a later run
    finally:
        schedule.stop()
    runs = schedule.runs
    time.sleep(0.15)
    assert schedule.runs == runs  # stopped
    with pytest.raises(ValueError, match="positive"):
        RetentionSchedule(retention, interval_seconds=0)


# -- nothing remains ---------------------------------------------------------------------------


MARKER_TITLE = "Retention marker title 7c1f"
MARKER_CONTENT = b"retention marker content 93be: the driver's cousin, landline only. " * 64


def test_a_retention_run_leaves_nothing_of_the_document_in_the_data_dir(
    world: World, clock: Clock
) -> None:
    if world.vault.settings.database_url is not None:
        pytest.skip("the data directory holds the database on SQLite only")
    cases, _, retention = services(world, clock)
    doc_id = store(world, MARKER_CONTENT, title=MARKER_TITLE)
    # A redaction record goes with its document; its sealed bytes stand for what it hides.
    sealed_redaction = os.urandom(64)
    with world.db() as db:
        db.add(
            Redaction(
                document_id=doc_id,
                status="proposed",
                proposer_id=world.editor.user_id,
                sealed=sealed_redaction,
            )
        )
        db.commit()
        row = db.get(Document, doc_id)
        assert row is not None
        sealed = row.sealed_metadata
        wrapped = [w.wrapped for w in db.exec(select(WrappedKey)).all()]
        blob = b"".join(world.vault.blobs.open(row.blob_id))
    cases.update(world.admin, world.case_id, retention=Retention(1, "upload"))
    clock.advance(2 * DAY)
    [item] = retention.run().items
    assert item.outcome == Outcome.DELETED
    needles = [
        MARKER_TITLE.encode(),
        MARKER_CONTENT[:40],
        sealed[:64],
        sealed_redaction[:64],
        blob[64:128],
        *(w[:64] for w in wrapped),
    ]
    files = [p for p in world.vault.settings.data_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, path
