"""The audited unit of work (``vault.services.uow``): a change commits with its access-log entry
or not at all, and a failed attempt commits its denied entry while the failure goes on up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import col, select

from tests.conftest import World
from vault.audit import log
from vault.audit.actions import Action
from vault.clock import system_clock
from vault.errors import AuthenticationFailed
from vault.services.uow import SYSTEM, UnitOfWork
from vault.storage.models import AuditEntry, Case


def _uow(world: World) -> UnitOfWork:
    return UnitOfWork(world.vault.engine, world.vault.clock)


def _size(world: World) -> int:
    with world.db() as db:
        return log.head(db)[0]


def _last(world: World) -> dict[str, Any]:
    with world.db() as db:
        row = db.exec(select(AuditEntry).order_by(col(AuditEntry.idx).desc())).first()
        assert row is not None
        entry: dict[str, Any] = json.loads(row.leaf)
        return entry


def _case_named(world: World, name: str) -> Case | None:
    with world.db() as db:
        return db.exec(select(Case).where(Case.name == name)).first()


def test_a_change_commits_with_its_entry_at_the_end_of_the_block(world: World) -> None:
    before = _size(world)
    with _uow(world).audited(world.admin, Action.CASE_CREATE) as work:
        case = Case(name="harbour", created_at=system_clock())
        work.db.add(case)
        work.add(case=case.id)
        assert _size(world) == before  # nothing appended yet
    assert _case_named(world, "harbour") is not None
    assert _size(world) == before + 1
    entry = _last(world)
    assert (entry["action"], entry["actor"], entry["outcome"]) == (
        "case.create",
        str(world.admin.user_id),
        "ok",
    )
    assert entry["targets"] == {"case": str(case.id)}


def test_an_exception_leaves_neither_the_change_nor_the_entry(world: World) -> None:
    before = _size(world)

    def interrupted() -> None:
        with _uow(world).audited(SYSTEM, Action.CASE_CREATE) as work:
            work.db.add(Case(name="harbour", created_at=system_clock()))
            work.log()
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted()
    assert _case_named(world, "harbour") is None
    assert _size(world) == before


def test_unchanged_drops_an_entry_already_appended(world: World) -> None:
    before = _size(world)
    with _uow(world).audited(SYSTEM, Action.HOLD_SET) as work:
        assert work.log() == before
        work.db.add(Case(name="harbour", created_at=system_clock()))
        work.unchanged()
    assert _case_named(world, "harbour") is None
    assert _size(world) == before


def test_a_unit_that_records_nothing_commits_nothing(world: World) -> None:
    before = _size(world)
    with _uow(world).audited(world.admin) as work:
        work.db.add(Case(name="harbour", created_at=system_clock()))
    assert _case_named(world, "harbour") is None
    assert _size(world) == before
    with _uow(world).audited(world.admin) as work:
        work.db.add(Case(name="harbour", created_at=system_clock()))
        work.record(Action.CASE_CREATE, case="harbour")
    assert _case_named(world, "harbour") is not None
    assert _size(world) == before + 1


def test_a_failure_commits_its_denied_entry_and_what_follows_it_only(world: World) -> None:
    before = _size(world)

    def attempt() -> None:
        with _uow(world).audited(None, Action.AUTH_LOGIN) as work:
            work.db.add(Case(name="before-the-failure", created_at=system_clock()))
            work.fail(Action.AUTH_LOGIN_FAILED, user="unknown")
            work.db.add(Case(name="after-the-failure", created_at=system_clock()))
            raise AuthenticationFailed()

    with pytest.raises(AuthenticationFailed):
        attempt()
    assert _case_named(world, "before-the-failure") is None
    assert _case_named(world, "after-the-failure") is not None
    assert _size(world) == before + 1
    entry = _last(world)
    assert (entry["action"], entry["actor"], entry["outcome"]) == (
        "auth.login.failed",
        "system",
        "denied",
    )
    assert entry["targets"] == {"user": "unknown"}


def test_an_entry_alone(world: World) -> None:
    before = _size(world)
    index = _uow(world).record(SYSTEM, Action.BACKUP_CREATE, extra={"manifest_sha256": "ab"})
    assert index == before
    entry = _last(world)
    assert (entry["action"], entry["manifest_sha256"]) == ("backup.create", "ab")
