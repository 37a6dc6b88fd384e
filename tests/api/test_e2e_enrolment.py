"""Enrolment end to end (``/v1/auth/e2e/enroll/start``, ``/enroll``, ``/enroll/confirm``):
the client makes and seals the key pair, the server never gets the passphrase, the key is the
one logged for the account, and wrong codes and verifiers fail and count as usual."""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import UUID

import pytest
from sqlmodel import Session, select

from tests.api.test_auth import Env, otp_now, totp_secret
from tests.api.test_auth import env as env  # a fixture, used by name
from tests.api.test_auth import totp_env as totp_env  # a fixture, as above
from tests.api.test_e2e_login import _post
from tests.conftest import PASSPHRASE
from vault import crypto
from vault.cli.remote.e2e_login import log_in
from vault.roles import Role
from vault.storage.models import AuditEntry, User


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _made(env: Env, username: str, enrolment_code: str, **override: Any) -> tuple[Any, Any, bytes]:
    """The start answer, the enrolment answer, and the verifier, as a client makes them."""
    code = enrolment_code
    started = env.client.post(
        "/v1/auth/e2e/enroll/start", json={"username": username, "code": code}
    )
    assert started.status_code == 200, started.text
    body = started.json()
    params = crypto.Argon2Params(body["memory_kib"], body["time_cost"], body["lanes"])
    salt = crypto.new_passphrase_salt()
    keys = crypto.derive_passphrase_keys(PASSPHRASE, salt, params)
    key = override.pop("key", None) or crypto.generate_private_key()
    request = {
        "username": username,
        "code": code,
        "public_key": _b64(key.public_key().to_bytes()),
        "salt": _b64(salt),
        "memory_kib": params.memory_kib,
        "time_cost": params.time_cost,
        "lanes": params.lanes,
        "verifier": _b64(keys.verifier),
        "sealed_private_key": _b64(
            crypto.seal_private_key(keys.kek, key, owner_id=UUID(body["user_id"]))
        ),
        **override,
    }
    return body, env.client.post("/v1/auth/e2e/enroll", json=request), keys.verifier


def test_an_account_enrolled_end_to_end_logs_in_either_way_with_its_own_key(env: Env) -> None:
    code = env.invite("jules")
    started, enrolled, _ = _made(env, "jules", code)
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["active"] is True
    opened = log_in(_post(env), "jules", PASSPHRASE, None)
    assert str(opened.answer["user"]["id"]) == started["user_id"]
    with Session(env.vault.engine) as db:
        user = db.exec(select(User).where(User.username == "jules")).one()
        assert user.key_id == opened.key.public_key().key_id
        entries = [json.loads(e.leaf) for e in db.exec(select(AuditEntry)).all()]
    enrolment = [e for e in entries if e["action"] == "auth.enroll"][-1]
    assert (enrolment["mode"], enrolment["key_id"]) == ("end-to-end", user.key_id)
    assert PASSPHRASE not in json.dumps(entries)
    assert env.login("jules").status_code == 200  # server-side too: the same sealed key
    again = env.client.post("/v1/auth/e2e/enroll/start", json={"username": "jules", "code": code})
    assert again.status_code == 401  # the code is used up


def test_wrong_codes_fail_alike_and_count(env: Env) -> None:
    env.invite("jules")
    for username in ("jules", "nobody"):
        wrong = env.client.post(
            "/v1/auth/e2e/enroll/start", json={"username": username, "code": "000000-000000"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "invalid username or enrolment code"
    with Session(env.vault.engine) as db:
        entries = [json.loads(e.leaf) for e in db.exec(select(AuditEntry)).all()]
    assert [e["action"] for e in entries[-2:]] == ["auth.enroll.failed"] * 2


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"salt": _b64(b"short")}, 422),
        ({"verifier": _b64(b"v" * 31)}, 422),
        ({"sealed_private_key": _b64(b"k" * 12)}, 422),
        ({"public_key": _b64(b"p" * 1184 + bytes(32))}, 422),  # a low-order X25519 point
        ({"memory_kib": 1024}, 422),
        ({"public_key": "***"}, 422),
        ({"code": "000000-000000"}, 401),
    ],
)
def test_what_the_server_can_check_is_refused_and_the_code_stays(
    env: Env, override: dict[str, Any], status: int
) -> None:
    code = env.invite("jules")
    _, refused, _ = _made(env, "jules", code, **override)
    assert refused.status_code == status, refused.text
    _, enrolled, _ = _made(env, "jules", code)
    assert enrolled.status_code == 200, enrolled.text


def test_a_key_of_another_account_is_refused(env: Env) -> None:
    env.add_user("erin")
    taken = log_in(_post(env), "erin", PASSPHRASE, None).key
    code = env.invite("jules")
    _, refused, _ = _made(env, "jules", code, key=taken)
    assert refused.status_code == 409, refused.text


def test_a_second_factor_is_confirmed_with_the_verifier_not_the_passphrase(totp_env: Env) -> None:
    env = totp_env
    code = env.invite("erin", Role.EDITOR)
    _, enrolled, verifier = _made(env, "erin", code)
    assert enrolled.json()["active"] is False
    secret = totp_secret(enrolled.json()["totp_uri"])
    confirm = "/v1/auth/e2e/enroll/confirm"
    wrong = env.client.post(
        confirm,
        json={"username": "erin", "verifier": _b64(bytes(32)), "otp": otp_now(secret, env.clock)},
    )
    assert wrong.status_code == 401
    done = env.client.post(
        confirm,
        json={"username": "erin", "verifier": _b64(verifier), "otp": otp_now(secret, env.clock)},
    )
    assert done.status_code == 204, done.text
    env.clock.advance(seconds=31)
    opened = log_in(_post(env), "erin", PASSPHRASE, otp_now(secret, env.clock))
    assert opened.key is not None


def test_an_end_to_end_only_account_enrols_only_end_to_end(env: Env) -> None:
    code = env.invite("jules")
    env.vault.users.set_end_to_end_only("jules", True)
    server_side = env.client.post(
        "/v1/auth/enroll", json={"username": "jules", "code": code, "passphrase": PASSPHRASE}
    )
    assert server_side.status_code == 403, server_side.text
    _, enrolled, _ = _made(env, "jules", code)
    assert enrolled.status_code == 200, enrolled.text
