"""``AuthService.set_role``: a role change and its access-log entry commit together, a change to
the same role is a no-op that logs nothing, and only administrators (or the local CLI) may make
one. Runs on SQLite and, with ``VAULT_TEST_DATABASE_URL``, on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import col, select

from tests.conftest import PASSPHRASE, World
from vault.errors import NotFound
from vault.storage.models import AuditEntry, Role, User


def entries(world: World) -> list[dict[str, Any]]:
    with world.db() as db:
        rows = db.exec(select(AuditEntry).order_by(col(AuditEntry.idx))).all()
        return [json.loads(row.leaf) for row in rows]


def role_of(world: World, username: str) -> Role:
    with world.db() as db:
        user = db.exec(select(User).where(User.username == username)).one()
        return Role(user.role)


def test_role_change_is_logged_with_old_and_new_role(world: World) -> None:
    before = len(entries(world))
    previous = world.vault.users.set_role(None, "jules", Role.EDITOR)
    assert previous == Role.JOURNALIST
    assert role_of(world, "jules") == Role.EDITOR
    log = entries(world)
    assert len(log) == before + 1
    entry = log[-1]
    assert entry["action"] == "user.role.changed"
    assert entry["actor"] == "system"  # the local administrator, at the CLI
    assert entry["targets"] == {"user": str(world.journalist.user_id)}
    assert (entry["from"], entry["to"]) == ("journalist", "editor")
    # The next login carries the new role: nothing about it is cached in a credential.
    assert world.vault.auth.login("jules", PASSPHRASE, None, address="test").actor.role == (
        Role.EDITOR
    )


def test_an_administrator_is_named_as_the_actor(world: World) -> None:
    assert world.vault.users.set_role(world.admin, "erin", Role.JOURNALIST) == Role.EDITOR
    entry = entries(world)[-1]
    assert entry["action"] == "user.role.changed"
    assert entry["actor"] == str(world.admin.user_id)
    assert (entry["from"], entry["to"]) == ("editor", "journalist")


def test_same_role_unknown_user_and_non_admin_change_nothing(world: World) -> None:
    before = entries(world)
    assert world.vault.users.set_role(None, "erin", Role.EDITOR) == Role.EDITOR
    with pytest.raises(NotFound):
        world.vault.users.set_role(None, "nobody-here", Role.EDITOR)
    with pytest.raises(NotFound):
        world.vault.users.set_role(world.editor, "jules", Role.ADMIN)
    assert entries(world) == before
    assert role_of(world, "erin") == Role.EDITOR
    assert role_of(world, "jules") == Role.JOURNALIST
