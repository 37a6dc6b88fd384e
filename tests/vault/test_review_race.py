"""Two decisions on one proposed redaction at the same moment, from two vault instances on one
database (two replicas): exactly one is taken, the other is refused as already decided, and
the log holds the one that was taken."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlmodel import col, select

from tests.conftest import World
from vault.errors import Conflict
from vault.instance import Vault
from vault.redaction.model import Category, Kind
from vault.services.documents import NewDocument
from vault.services.redaction_records import Proposal
from vault.storage.models import AuditEntry, Role

ROUNDS = 6


@pytest.fixture
def second_replica(world: World) -> Iterator[Vault]:
    other = Vault.open(world.vault.settings)
    yield other
    other.close()


def _at_once(*calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` on threads released together; each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(number: int) -> None:
        barrier.wait()
        try:
            results[number] = calls[number]()
        except Exception as exc:
            results[number] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_an_approval_and_a_rejection_at_once_on_two_replicas_take_one_decision(
    world: World, second_replica: Vault
) -> None:
    rosa = world.add_user("rosa", Role.EDITOR)
    eve = world.add_user("eve", Role.EDITOR)
    doc = _statement(world)
    decided: dict[uuid.UUID, str] = {}
    for number in range(ROUNDS):
        proposal = Proposal(Kind.TERM, Category.SOURCE_IDENTITY, term=f"attendee {number}")
        redaction = world.vault.redactions.propose(world.editor, doc, proposal).id
        approval, rejection = _at_once(
            lambda r=redaction: world.vault.redactions.approve(rosa, r),
            lambda r=redaction: second_replica.redactions.reject(eve, r, note="not needed"),
        )
        outcomes = [type(result).__name__ for result in (approval, rejection)]
        assert sorted(outcomes) == ["Conflict", "RedactionInfo"], (approval, rejection)
        assert isinstance(approval, Conflict) or isinstance(rejection, Conflict)
        decided[redaction] = "approved" if isinstance(rejection, Conflict) else "rejected"
    stored = {info.id: info.status for info in world.vault.redactions.of_document(rosa, doc)}
    assert {r: stored[r].value for r in decided} == decided
    decisions = _decision_entries(world, doc, b'"redaction.approve"')
    decisions += _decision_entries(world, doc, b'"redaction.reject"')
    assert decisions == ROUNDS


def test_two_approvals_at_once_take_one(world: World, second_replica: Vault) -> None:
    rosa = world.add_user("rosa", Role.EDITOR)
    eve = world.add_user("eve", Role.EDITOR)
    doc = _statement(world)
    for number in range(ROUNDS):
        proposal = Proposal(Kind.TERM, Category.SOURCE_IDENTITY, term=f"attendee {number}")
        redaction = world.vault.redactions.propose(world.editor, doc, proposal).id
        results = _at_once(
            lambda r=redaction: world.vault.redactions.approve(rosa, r),
            lambda r=redaction: second_replica.redactions.approve(eve, r),
        )
        assert sorted(type(result).__name__ for result in results) == [
            "Conflict",
            "RedactionInfo",
        ], results
    assert _decision_entries(world, doc, b'"redaction.approve"') == ROUNDS


def test_a_withdrawal_approved_and_rejected_at_once_takes_one_decision(
    world: World, second_replica: Vault
) -> None:
    rosa = world.add_user("rosa", Role.EDITOR)
    eve = world.add_user("eve", Role.EDITOR)
    doc = _statement(world)
    for number in range(ROUNDS):
        proposal = Proposal(Kind.TERM, Category.SOURCE_IDENTITY, term=f"attendee {number}")
        redaction = world.vault.redactions.propose(world.editor, doc, proposal).id
        world.vault.redactions.approve(rosa, redaction)
        world.vault.redactions.withdraw(world.editor, redaction, note="hides too much")
        results = _at_once(
            lambda r=redaction: world.vault.redactions.approve_withdrawal(rosa, r),
            lambda r=redaction: second_replica.redactions.reject_withdrawal(eve, r, note="keep"),
        )
        assert sorted(type(result).__name__ for result in results) == [
            "Conflict",
            "RedactionInfo",
        ], results
    decided = _decision_entries(world, doc, b'"redaction.withdraw.approve"')
    decided += _decision_entries(world, doc, b'"redaction.withdraw.reject"')
    assert decided == ROUNDS


def _statement(world: World) -> uuid.UUID:
    return world.vault.documents.add(
        world.editor,
        case_id=world.case_id,
        content=[b"Testimony of the attendee. " * 20],
        document=NewDocument(title="testimony", media_type="text/plain"),
    ).id


def _decision_entries(world: World, doc: uuid.UUID, action: bytes) -> int:
    with world.db() as db:
        entries = db.exec(select(AuditEntry.leaf).where(col(AuditEntry.document_id) == doc)).all()
    return sum(1 for entry in entries if action in entry)
