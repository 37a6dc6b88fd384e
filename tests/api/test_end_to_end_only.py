"""Accounts that log in end to end only, by an administrator's choice (``vault users
end-to-end``) or their role's (``end_to_end_only_roles``): the server refuses their passphrase
logins and every credential that holds their key on the server, and end-to-end logins go on.
The account's flag is bound by its row seal."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from api import create_app
from tests.api.test_auth import Env
from tests.api.test_auth import env as env  # a fixture, used by name
from tests.api.test_e2e_login import _post
from tests.conftest import PASSPHRASE
from vault.cli.remote.e2e_login import log_in
from vault.errors import IntegrityError
from vault.instance import Vault
from vault.roles import Role
from vault.storage.models import AuditEntry, Credential, User


def _sessions(env: Env, username: str) -> int:
    with Session(env.vault.engine) as db:
        user_id = db.exec(select(User.id).where(User.username == username)).one()
        return db.exec(
            select(func.count())
            .select_from(Credential)
            .where(Credential.user_id == user_id, col(Credential.revoked_at).is_(None))
        ).one()


def _last_entry(env: Env) -> dict[str, Any]:
    with Session(env.vault.engine) as db:
        leaf = db.exec(select(AuditEntry.leaf).order_by(col(AuditEntry.idx).desc())).first()
    assert leaf is not None
    entry: dict[str, Any] = json.loads(leaf)
    return entry


def _refused(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith(":end-to-end-only")
    assert "--end-to-end" in body["detail"]


def test_a_passphrase_login_is_refused_and_an_end_to_end_one_goes_on(env: Env) -> None:
    env.add_user("jules")
    env.vault.users.set_end_to_end_only("jules", True)
    before = _sessions(env, "jules")
    _refused(env.login("jules"))
    assert _sessions(env, "jules") == before
    entry = _last_entry(env)
    assert (entry["action"], entry["outcome"], entry["reason"]) == (
        "auth.login",
        "denied",
        "end-to-end-only",
    )
    # Nothing tells an outsider how the account logs in: a wrong passphrase is the usual 401.
    wrong = env.login("jules", "an entirely wrong but long passphrase")
    assert wrong.status_code == 401
    assert wrong.json() == env.login("nobody-at-all", PASSPHRASE).json()
    opened = log_in(_post(env), "jules", PASSPHRASE, None)
    me = env.client.get(
        "/v1/auth/me", headers={"Authorization": f"Bearer {opened.answer['token']}"}
    )
    assert me.status_code == 200, me.text
    # And either way again once the administrator says so.
    env.vault.users.set_end_to_end_only("jules", False)
    assert env.login("jules").status_code == 200


def test_setting_it_ends_the_sessions_and_tokens_that_hold_the_key(env: Env) -> None:
    env.add_user("jules")
    server_side = env.login("jules").json()["token"]
    held = {"Authorization": f"Bearer {server_side}"}
    made = env.client.post("/v1/tokens", headers=held, json={"name": "s", "scopes": ["read"]})
    assert made.status_code == 201, made.text
    reader = {"Authorization": f"Bearer {made.json()['token']}"}
    e2e = {
        "Authorization": f"Bearer {log_in(_post(env), 'jules', PASSPHRASE, None).answer['token']}"
    }
    ended = env.vault.users.set_end_to_end_only("jules", True)
    assert ended == 2
    for headers in (held, reader):
        assert env.client.get("/v1/auth/me", headers=headers).status_code == 401
    assert env.client.get("/v1/auth/me", headers=e2e).status_code == 200
    entry = _last_entry(env)
    assert (entry["action"], entry["only"], entry["ended"]) == ("user.end-to-end-only", "true", "2")
    assert env.vault.users.set_end_to_end_only("jules", True) == 0  # no change, no entry
    assert _last_entry(env)["index"] == entry["index"]


def test_a_role_can_require_it(env: Env) -> None:
    env.add_user("jules")
    env.add_user("erin", Role.EDITOR)
    token = env.login("jules").json()["token"]
    # The server restarted with journalists made end to end only.
    settings = env.vault.settings.with_overrides(end_to_end_only_roles="journalist")
    vault = Vault.open(settings, clock=env.clock)
    try:
        app = create_app(settings, vault=vault, clock=env.clock)
        with TestClient(app, raise_server_exceptions=False) as client:
            after = Env(vault, env.clock, app, client, env.admin)
            _refused(after.login("jules"))
            assert after.login("erin").status_code == 200
            # A server-side session from before the setting is refused at its next use.
            me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            _refused(me)
            assert log_in(_post(after), "jules", PASSPHRASE, None).answer["token"]
    finally:
        vault.close()


def test_the_flag_is_bound_by_the_row_seal(env: Env) -> None:
    """Clearing it in the database, without the seal key, is refused like any other edit of a
    bound column; a row that never set it keeps the seal it had before the column existed."""
    env.add_user("jules")
    env.add_user("erin")
    env.vault.users.set_end_to_end_only("jules", True)
    with env.vault.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE users SET end_to_end_only = :no WHERE username = 'jules'"),
            {"no": False},
        )
    with pytest.raises(IntegrityError) as raised:
        env.vault.users.account("jules")
    assert raised.value.reason == "row-seal"
    assert env.login("erin").status_code == 200
