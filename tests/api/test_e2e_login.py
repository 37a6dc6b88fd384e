"""End-to-end logins over HTTP (``vault.services.e2e_login``, ``vault.cli.remote.e2e_login``):
the passphrase never reaches the server, the session holds no key, and neither the verifier a
database copy holds, nor a replayed or foreign challenge, logs in."""

from __future__ import annotations

import base64
import gc
import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlmodel import Session, select

from tests.api.test_auth import Env, otp_now, totp_secret
from tests.api.test_auth import env as env  # a fixture, used by name
from tests.api.test_auth import totp_env as totp_env  # a fixture, as above
from tests.conftest import PASSPHRASE
from vault import crypto
from vault.cli.client import error_from
from vault.cli.remote.e2e_login import CHALLENGE_KIND, log_in
from vault.errors import AuthenticationFailed, Conflict, OtpRequired
from vault.services import e2e_login, users
from vault.storage.models import AuditEntry, Credential, LoginChallenge, Role, User

WRONG = "entirely wrong but long passphrase"


def _post(env: Env) -> Any:
    def post(path: str, body: Mapping[str, Any]) -> Any:
        response = env.client.post(path, json=dict(body))
        if response.status_code != 200:
            raise error_from(response)
        return response.json()

    return post


def _credential(env: Env, token: str) -> Credential:
    with Session(env.vault.engine) as db:
        row = db.exec(
            select(Credential).where(Credential.token_hash == crypto.hash_bearer_token(token))
        ).one()
    return row


def test_the_kind_of_wrapping_is_the_servers() -> None:
    assert CHALLENGE_KIND == e2e_login.CHALLENGE_KIND


def test_an_end_to_end_session_holds_no_key_and_refuses_what_needs_one(env: Env) -> None:
    env.add_user("jules")
    case = env.new_case("jules")
    opened = log_in(_post(env), "jules", PASSPHRASE, None)
    token = opened.answer["token"]
    with Session(env.vault.engine) as db:
        user = db.exec(select(User).where(User.username == "jules")).one()
    assert opened.key.public_key().key_id == user.key_id
    row = _credential(env, token)
    assert row.end_to_end
    assert row.sealed_key is None
    headers = {"Authorization": f"Bearer {token}"}
    assert env.client.get("/v1/auth/me", headers=headers).json()["username"] == "jules"
    # An upload needs only public keys: it works.
    up = env.client.post(
        "/v1/documents",
        headers=headers,
        data={"case": case, "title": "t"},
        files={"file": ("a.txt", b"statement", "text/plain")},
    )
    assert up.status_code == 201, up.text
    read = env.client.get(f"/v1/documents/{up.json()['id']}/content", headers=headers)
    assert read.status_code == 409, read.text
    assert read.json()["type"] == "urn:source-vault:problem:key-not-held"
    # A token made from it holds no key either.
    made = env.client.post(
        "/v1/tokens",
        headers=headers,
        json={"name": "script", "scopes": ["read"], "expires_in": 3600},
    )
    assert made.status_code == 201, made.text
    assert _credential(env, made.json()["token"]).sealed_key is None
    with Session(env.vault.engine) as db:
        actions = [bytes(e.leaf) for e in db.exec(select(AuditEntry)).all()]
    assert any(b'"auth.login.challenge"' in leaf for leaf in actions)
    assert any(b'"mode":"end-to-end"' in leaf for leaf in actions)


def test_a_wrong_passphrase_and_an_unknown_user_fail_alike(env: Env) -> None:
    env.add_user("jules")
    post = _post(env)
    for name, passphrase in (("jules", WRONG), ("nobody", PASSPHRASE)):
        with pytest.raises(AuthenticationFailed):
            log_in(post, name, passphrase, None)
    known = env.client.post("/v1/auth/e2e/params", json={"username": "jules"}).json()
    unknown = env.client.post("/v1/auth/e2e/params", json={"username": "nobody"}).json()
    assert set(known) == set(unknown)
    assert (known["memory_kib"], known["time_cost"]) == (
        unknown["memory_kib"],
        unknown["time_cost"],
    )
    again = env.client.post("/v1/auth/e2e/params", json={"username": "nobody"}).json()
    assert again == unknown  # stable, as a real account's is


def test_the_verifier_a_database_copy_holds_does_not_log_in(env: Env) -> None:
    """The stored verifier passes step 2, but without the passphrase's key-encryption key the
    sealed private key does not open, and no answer works."""
    env.add_user("jules")
    with Session(env.vault.engine) as db:
        user = db.exec(select(User).where(User.username == "jules")).one()
    assert user.login_verifier is not None
    challenge = env.client.post(
        "/v1/auth/e2e/challenge",
        json={"username": "jules", "verifier": base64.b64encode(user.login_verifier).decode()},
    )
    assert challenge.status_code == 200, challenge.text
    body = challenge.json()
    # The best guess without the key: a random answer.
    guess = env.client.post(
        "/v1/auth/e2e/login",
        json={
            "username": "jules",
            "challenge_id": body["challenge_id"],
            "answer": base64.b64encode(bytes(32)).decode(),
        },
    )
    assert guess.status_code == 401, guess.text


def _challenge(env: Env, user: str = "jules") -> tuple[dict[str, Any], bytes]:
    """A challenge for ``user`` and its secret, unwrapped as the client does."""
    params = env.client.post("/v1/auth/e2e/params", json={"username": user}).json()
    keys = crypto.derive_passphrase_keys(
        PASSPHRASE,
        base64.b64decode(params["salt"]),
        crypto.Argon2Params(params["memory_kib"], params["time_cost"], params["lanes"]),
    )
    body = env.client.post(
        "/v1/auth/e2e/challenge",
        json={"username": user, "verifier": base64.b64encode(keys.verifier).decode()},
    ).json()
    key = crypto.open_private_key(
        keys.kek,
        base64.b64decode(body["sealed_private_key"]),
        owner_id=UUID(body["user_id"]),
        key_id=body["key_id"],
    )
    secret = crypto.unwrap_key(
        base64.b64decode(body["wrapped_secret"]),
        key,
        kind=CHALLENGE_KIND,
        subject_id=UUID(body["challenge_id"]),
        commitment=None,
    )
    return body, secret


def _answer(env: Env, user: str, challenge_id: str, secret: bytes) -> httpx.Response:
    return env.client.post(
        "/v1/auth/e2e/login",
        json={
            "username": user,
            "challenge_id": challenge_id,
            "answer": base64.b64encode(secret).decode(),
        },
    )


def test_a_challenge_is_answered_once_by_its_own_user_in_time(env: Env) -> None:
    env.add_user("jules")
    env.add_user("joan")
    body, secret = _challenge(env)
    # Another account cannot use it, and the try uses it up.
    assert _answer(env, "joan", body["challenge_id"], secret).status_code == 401
    assert _answer(env, "jules", body["challenge_id"], secret).status_code == 401
    # A wrong answer uses it up too.
    body, secret = _challenge(env)
    assert _answer(env, "jules", body["challenge_id"], bytes(32)).status_code == 401
    assert _answer(env, "jules", body["challenge_id"], secret).status_code == 401
    # A right one works once.
    body, secret = _challenge(env)
    assert _answer(env, "jules", body["challenge_id"], secret).status_code == 200
    assert _answer(env, "jules", body["challenge_id"], secret).status_code == 401
    # Too late.
    body, secret = _challenge(env)
    env.clock.advance(seconds=e2e_login.CHALLENGE_SECONDS + 1)
    assert _answer(env, "jules", body["challenge_id"], secret).status_code == 401
    # Unanswered ones go when they have expired, at the next challenge.
    _challenge(env)
    env.clock.advance(seconds=e2e_login.CHALLENGE_SECONDS + 1)
    with Session(env.vault.engine) as db:
        assert len(db.exec(select(LoginChallenge)).all()) == 1
    _challenge(env)
    with Session(env.vault.engine) as db:
        live = db.exec(select(LoginChallenge)).all()
    assert len(live) == 1
    assert live[0].expires_at > env.clock()


def test_malformed_verifiers_and_answers_are_the_generic_401(env: Env) -> None:
    env.add_user("jules")
    for verifier in ("!" * 44, base64.b64encode(bytes(31)).decode().ljust(44, "=")):
        answer = env.client.post(
            "/v1/auth/e2e/challenge", json={"username": "jules", "verifier": verifier}
        )
        assert answer.status_code == 401, answer.text
    short = env.client.post("/v1/auth/e2e/challenge", json={"username": "jules", "verifier": "x"})
    assert short.status_code == 422
    assert short.headers["content-type"] == "application/problem+json"


def test_failures_are_throttled_like_passphrase_logins(env: Env) -> None:
    env.add_user("jules")
    post = _post(env)
    statuses = []
    for _ in range(8):
        try:
            log_in(post, "jules", WRONG, None)
        except AuthenticationFailed:
            statuses.append(401)
        except Exception as exc:
            statuses.append(type(exc).__name__)
    assert "RateLimited" in statuses, statuses


def test_the_one_time_code_is_checked_before_the_sealed_key_leaves(totp_env: Env) -> None:
    env = totp_env
    _, _, uri = env.vault.users.create_account(
        None, username="erin", role=Role.EDITOR, passphrase=PASSPHRASE
    )
    assert uri is not None
    secret = totp_secret(uri)
    # The first login confirms the code the passphrase way (as enrolment does).
    confirm = env.client.post(
        "/v1/auth/enroll/confirm",
        json={"username": "erin", "passphrase": PASSPHRASE, "otp": otp_now(secret, env.clock)},
    )
    assert confirm.status_code in (204, 401), confirm.text
    post = _post(env)
    with pytest.raises(OtpRequired):
        log_in(post, "erin", PASSPHRASE, None)
    env.clock.advance(seconds=31)
    opened = log_in(post, "erin", PASSPHRASE, otp_now(secret, env.clock))
    assert _credential(env, opened.answer["token"]).with_otp
    # The same code again: replayed.
    with pytest.raises(AuthenticationFailed):
        log_in(post, "erin", PASSPHRASE, otp_now(secret, env.clock))


def test_a_totp_secret_sealed_under_the_passphrase_moves_at_the_next_passphrase_login(
    totp_env: Env,
) -> None:
    """Accounts from before end-to-end logins kept the TOTP secret under the passphrase's key:
    an end-to-end login cannot check their codes (409, saying what to do), and the next login
    with the passphrase moves the secret under the server's key."""
    env = totp_env
    _, _, uri = env.vault.users.create_account(
        None, username="erin", role=Role.EDITOR, passphrase=PASSPHRASE
    )
    assert uri is not None
    secret = totp_secret(uri)
    with Session(env.vault.engine) as db:
        user = db.exec(select(User).where(User.username == "erin")).one()
        assert user.kdf_salt is not None
        assert user.kdf_memory_kib is not None
        kek = crypto.derive_passphrase_keys(
            PASSPHRASE,
            user.kdf_salt,
            crypto.Argon2Params(user.kdf_memory_kib, user.kdf_time_cost or 0, user.kdf_lanes or 0),
        ).kek
        user.sealed_totp = crypto.seal_with_kek(
            kek, secret, label=users._TOTP_LABEL, owner_id=user.id
        )
        user.totp_confirmed = True
        db.add(user)
        db.commit()
    post = _post(env)
    with pytest.raises(Conflict, match="log in once with the passphrase"):
        log_in(post, "erin", PASSPHRASE, otp_now(secret, env.clock))
    env.clock.advance(seconds=31)
    moved = env.login("erin", otp=otp_now(secret, env.clock))
    assert moved.status_code == 200, moved.text
    env.clock.advance(seconds=31)
    opened = log_in(post, "erin", PASSPHRASE, otp_now(secret, env.clock))
    assert _credential(env, opened.answer["token"]).end_to_end


def _server_held_keys(key_id: str, *, besides: object) -> list[object]:
    """Every unlocked private key of ``key_id`` alive in this process, but the client's own
    (``besides``): with the app in this process, any other one is the server's."""
    gc.collect()
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, crypto.PrivateKey)
        and obj is not besides
        and obj.public_key().key_id == key_id
    ]


def test_the_server_holds_no_unlocked_key_of_an_end_to_end_user(env: Env) -> None:
    """Through a whole end-to-end session (login, upload, sealed read, ciphertext, token,
    logout), no private key of the account is alive in the server's process between
    requests; a server-side login of the same account, for contrast, is found holding one
    while its session's actor is in use."""
    env.add_user("jules")
    case = env.new_case("jules")
    opened = log_in(_post(env), "jules", PASSPHRASE, None)
    key_id = opened.key.public_key().key_id
    assert _server_held_keys(key_id, besides=opened.key) == []
    headers = {"Authorization": f"Bearer {opened.answer['token']}"}
    up = env.client.post(
        "/v1/documents",
        headers=headers,
        data={"case": case, "title": "t"},
        files={"file": ("a.txt", b"statement", "text/plain")},
    )
    doc = up.json()["id"]
    for path in (f"/v1/documents/{doc}/sealed", f"/v1/documents/{doc}/ciphertext"):
        assert env.client.get(path, headers=headers).status_code == 200
        assert _server_held_keys(key_id, besides=opened.key) == []
    env.client.post(
        "/v1/tokens", headers=headers, json={"name": "s", "scopes": ["read"], "expires_in": 600}
    )
    assert env.client.post("/v1/auth/logout", headers=headers).status_code == 204
    assert _server_held_keys(key_id, besides=opened.key) == []
    # The contrast: the check sees a key the server does hold.
    actor = env.vault.auth.login("jules", PASSPHRASE, None, address="127.0.0.1").actor
    assert len(_server_held_keys(key_id, besides=opened.key)) == 1
    del actor


def test_answers_racing_for_one_challenge_open_one_session(env: Env) -> None:
    """Four answers to one challenge at once (threads, as replicas would): exactly one opens a
    session, the others find the challenge used up, and none fails otherwise."""
    env.add_user("jules")
    body, secret = _challenge(env)
    barrier = threading.Barrier(4)

    def answer() -> str:
        barrier.wait()
        try:
            env.vault.e2e.login(
                "jules",
                UUID(body["challenge_id"]),
                secret,
                address="127.0.0.1",
                device_token=None,
            )
        except AuthenticationFailed:
            return "refused"
        return "session"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: answer(), range(4)))
    assert outcomes == ["refused", "refused", "refused", "session"]


def test_a_required_key_rotation_stops_end_to_end_logins_until_it_is_done(env: Env) -> None:
    """An administrator suspects the key is exposed: no end-to-end session opens with it (the
    owner, and only the owner, is told why); the server-side login that makes the new key pair
    lets end-to-end logins go on, with the new key."""
    env.add_user("jules")
    old = log_in(_post(env), "jules", PASSPHRASE, None).key.public_key().key_id
    env.vault.users.require_rotation("jules")
    with pytest.raises(Conflict, match="new key pair"):
        log_in(_post(env), "jules", PASSPHRASE, None)
    with pytest.raises(AuthenticationFailed):
        log_in(_post(env), "jules", WRONG, None)  # a stranger learns nothing of it
    with Session(env.vault.engine) as db:
        entries = [json.loads(e.leaf) for e in db.exec(select(AuditEntry)).all()]
    denied = [e for e in entries if e.get("reason") == "key-rotation-required"]
    assert [(e["action"], e["outcome"]) for e in denied] == [("auth.login.challenge", "denied")]
    assert env.login("jules").status_code == 200  # rotates
    new = log_in(_post(env), "jules", PASSPHRASE, None).key.public_key().key_id
    assert new != old
