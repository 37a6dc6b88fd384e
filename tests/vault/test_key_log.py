"""Every key a user is given, and every change of it, is named in the access log (the ground
key transparency stands on): after any history of creation, enrolment, rotation, reset and
recovery, the newest entry naming a user's key is the key the database holds for them."""

from __future__ import annotations

import json

from sqlmodel import col, select

from tests.conftest import PASSPHRASE, World
from vault.storage.models import AuditEntry, Role, User


def _logged_keys(world: World) -> dict[str, list[tuple[str, str]]]:
    """Per user id, the (action, key_id) of every entry naming their key, oldest first."""
    with world.db() as db:
        rows = db.exec(select(AuditEntry).order_by(col(AuditEntry.idx))).all()
    keys: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        entry = json.loads(row.leaf)
        if entry["outcome"] == "ok" and "key_id" in entry:
            keys.setdefault(entry["targets"]["user"], []).append((entry["action"], entry["key_id"]))
    return keys


def _current_keys_are_the_logged_ones(world: World) -> None:
    logged = _logged_keys(world)
    with world.db() as db:
        for user in db.exec(select(User)).all():
            history = logged.get(str(user.id))
            assert history, f"{user.username}'s key was never named in the log"
            assert history[-1][1] == (user.key_id or "none"), user.username


def _history(world: World, username: str) -> list[tuple[str, str]]:
    with world.db() as db:
        user = db.exec(select(User).where(User.username == username)).one()
    return _logged_keys(world)[str(user.id)]


def test_the_accounts_of_a_new_vault_have_their_keys_logged(world: World) -> None:
    _current_keys_are_the_logged_ones(world)


def test_every_change_of_a_users_key_is_logged_with_the_new_key(world: World) -> None:
    world.vault.users.create_account(
        None, username="casey", role=Role.JOURNALIST, passphrase=PASSPHRASE
    )
    _, code, _ = world.vault.users.create_account(
        None, username="dana", role=Role.JOURNALIST, passphrase=None
    )
    assert code is not None
    world.vault.auth.enroll("dana", code, PASSPHRASE, address="testclient")
    world.vault.auth.login("casey", PASSPHRASE, None, address="testclient", rotate_key=True)
    world.vault.users.reset_enrolment("dana")
    shares = world.init.mnemonics
    world.vault.recovery.recover_user("casey", [shares[0], shares[1]])
    _current_keys_are_the_logged_ones(world)

    casey = _history(world, "casey")
    assert [action for action, _ in casey] == ["user.create", "user.key.rotate", "user.reset"]
    assert len({key for _, key in casey}) == 3  # three different keys, none of them "none"
    assert "none" not in {key for _, key in casey}
    dana = _history(world, "dana")
    assert [action for action, _ in dana] == ["user.create", "auth.enroll", "user.reset"]
    assert [key == "none" for _, key in dana] == [True, False, True]


def test_a_passphrase_change_keeps_the_key_and_logs_no_new_one(world: World) -> None:
    before = _history(world, world.journalist.username)
    world.vault.account.change_passphrase(
        world.journalist, PASSPHRASE, PASSPHRASE + " and a new word"
    )
    assert _history(world, world.journalist.username) == before
    _current_keys_are_the_logged_ones(world)
