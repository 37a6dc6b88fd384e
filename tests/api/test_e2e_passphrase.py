"""``POST /v1/me/passphrase/end-to-end``: a passphrase change done on the client. The current
passphrase is proven by its verifier (a wrong one is a counted failure), the same key comes
back sealed under the new one, and afterwards both kinds of login open that key with the new
passphrase only. An end-to-end only account cannot change it server-side."""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import UUID

import pytest
from sqlmodel import Session, col, select

from tests.api.test_auth import Env
from tests.api.test_auth import env as env  # a fixture, used by name
from tests.api.test_e2e_login import _post
from tests.conftest import PASSPHRASE
from vault import crypto
from vault.cli.remote.e2e_login import log_in
from vault.errors import AuthenticationFailed
from vault.storage.models import AuditEntry, User

NEW = "seven quiet herons over the old customs house"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _change(
    env: Env,
    token: str,
    key: crypto.PrivateKey,
    current: str = PASSPHRASE,
    new: str = NEW,
    **override: Any,
) -> Any:
    found = env.client.post("/v1/auth/e2e/params", json={"username": "jules"}).json()
    params = crypto.Argon2Params(found["memory_kib"], found["time_cost"], found["lanes"])
    old = crypto.derive_passphrase_keys(current, base64.b64decode(found["salt"]), params)
    with Session(env.vault.engine) as db:
        user_id = db.exec(select(User.id).where(User.username == "jules")).one()
    salt = crypto.new_passphrase_salt()
    fresh = crypto.derive_passphrase_keys(new, salt, params)
    body = {
        "current_verifier": _b64(old.verifier),
        "salt": _b64(salt),
        "memory_kib": params.memory_kib,
        "time_cost": params.time_cost,
        "lanes": params.lanes,
        "verifier": _b64(fresh.verifier),
        "sealed_private_key": _b64(crypto.seal_private_key(fresh.kek, key, owner_id=user_id)),
        **override,
    }
    return env.client.post(
        "/v1/me/passphrase/end-to-end", headers={"Authorization": f"Bearer {token}"}, json=body
    )


def _last(env: Env) -> dict[str, Any]:
    with Session(env.vault.engine) as db:
        leaf = db.exec(select(AuditEntry.leaf).order_by(col(AuditEntry.idx).desc())).first()
    entry: dict[str, Any] = json.loads(leaf or b"{}")
    return entry


def test_the_client_reseals_and_only_the_new_passphrase_opens_the_same_key(env: Env) -> None:
    env.add_user("jules")
    other = env.login("jules").json()["token"]
    opened = log_in(_post(env), "jules", PASSPHRASE, None)
    key_id = opened.key.public_key().key_id
    changed = _change(env, opened.answer["token"], opened.key)
    assert changed.status_code == 200, changed.text
    assert changed.json()["sessions_ended"] == 1
    entry = _last(env)
    assert (entry["action"], entry["mode"], entry["sessions_ended"]) == (
        "auth.passphrase.change",
        "end-to-end",
        "1",
    )
    assert env.client.get("/v1/auth/me", headers={"Authorization": f"Bearer {other}"}).is_error
    again = log_in(_post(env), "jules", NEW, None)
    assert again.key.public_key().key_id == key_id
    assert env.login("jules", NEW).status_code == 200
    assert env.vault.auth.login("jules", NEW, None, address="127.0.0.1").actor.key is not None
    assert env.login("jules", PASSPHRASE).status_code == 401
    with pytest.raises(AuthenticationFailed):
        log_in(_post(env), "jules", PASSPHRASE, None)  # the old passphrase no longer logs in


def test_a_wrong_current_passphrase_is_a_counted_failure_and_changes_nothing(env: Env) -> None:
    env.add_user("jules")
    opened = log_in(_post(env), "jules", PASSPHRASE, None)
    with Session(env.vault.engine) as db:
        before = db.exec(select(User).where(User.username == "jules")).one().sealed_private_key
    wrong = _change(
        env, opened.answer["token"], opened.key, current="an entirely wrong long passphrase"
    )
    assert wrong.status_code == 401
    assert _last(env)["action"] == "auth.passphrase.change.failed"
    with Session(env.vault.engine) as db:
        after = db.exec(select(User).where(User.username == "jules")).one().sealed_private_key
    assert after == before
    assert log_in(_post(env), "jules", PASSPHRASE, None).key is not None


def test_parts_of_the_wrong_size_or_weak_parameters_are_refused(env: Env) -> None:
    env.add_user("jules")
    opened = log_in(_post(env), "jules", PASSPHRASE, None)
    token = opened.answer["token"]
    for override in (
        {"salt": _b64(b"short")},
        {"verifier": _b64(b"v" * 5)},
        {"sealed_private_key": _b64(b"k" * 10)},
        {"memory_kib": 1024},
        {"salt": "***"},
    ):
        answer = _change(env, token, opened.key, **override)
        assert answer.status_code == 422, (override, answer.text)
    assert log_in(_post(env), "jules", PASSPHRASE, None).key is not None


def test_an_end_to_end_only_account_cannot_change_it_server_side(env: Env) -> None:
    env.add_user("jules")
    opened = log_in(_post(env), "jules", PASSPHRASE, None)
    env.vault.users.set_end_to_end_only("jules", True)
    headers = {"Authorization": f"Bearer {opened.answer['token']}"}
    server_side = env.client.post(
        "/v1/me/passphrase",
        headers=headers,
        json={"current_passphrase": PASSPHRASE, "new_passphrase": NEW},
    )
    assert server_side.status_code == 403, server_side.text
    assert _change(env, opened.answer["token"], opened.key).status_code == 200
    assert UUID(str(log_in(_post(env), "jules", NEW, None).answer["user"]["id"]))
