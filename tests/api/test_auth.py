"""Enrolment, two-factor login, sessions, API tokens and throttling, through the HTTP API.

Every test runs on a vault of its own whose services read a fake clock, so that expiry and
throttling are tested by moving time rather than by waiting. Each Argon2id derivation (an
enrolment, a login, a failed login) costs a few hundred milliseconds: the tests keep them few.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from api import create_app
from tests.conftest import PASSPHRASE
from vault import crypto
from vault.audit.seal_key import read_seal_key
from vault.errors import IntegrityError
from vault.initialise import init_vault
from vault.instance import Vault
from vault.services import throttle, users
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import Credential, Role, Throttle

PROBLEM = "application/problem+json"
TYPE_PREFIX = "urn:source-vault:problem:"
OTHER_PASSPHRASE = "violet quarry lantern orbit"
WRONG_PASSPHRASE = "entirely wrong but long passphrase"
TOKEN_RE = re.compile(r"^sv_[A-Za-z0-9_-]{43}$")


class FakeClock:
    """An aware UTC clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Env:
    """A vault on a fake clock, its app and a client. ``admin`` acts without a key (enough
    to manage cases)."""

    vault: Vault
    clock: FakeClock
    app: FastAPI
    client: TestClient
    admin: Actor

    def add_user(self, username: str, role: Role = Role.JOURNALIST) -> None:
        """An active account with ``PASSPHRASE`` (one derivation)."""
        self.vault.users.create_account(None, username=username, role=role, passphrase=PASSPHRASE)

    def invite(self, username: str, role: Role = Role.JOURNALIST) -> str:
        """An account waiting for enrolment; its enrolment code."""
        _, code, _ = self.vault.users.create_account(
            None, username=username, role=role, passphrase=None
        )
        assert code is not None
        return code

    def login(
        self,
        username: str,
        passphrase: str = PASSPHRASE,
        otp: str | None = None,
        *,
        client: TestClient | None = None,
    ) -> httpx.Response:
        body: dict[str, str] = {"username": username, "passphrase": passphrase}
        if otp is not None:
            body["otp"] = otp
        return (client or self.client).post("/v1/auth/login", json=body)

    def session(self, username: str, passphrase: str = PASSPHRASE) -> str:
        response = self.login(username, passphrase)
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def me(self, token: str) -> httpx.Response:
        return self.client.get("/v1/auth/me", headers=bearer(token))

    def new_case(self, *members: str) -> str:
        """A case with ``members``: the first is approved by being added, and approves the
        others."""
        case = self.vault.cases.create(self.admin, f"case-{uuid.uuid4().hex[:8]}")
        for member in members:
            self.vault.cases.add_member(self.admin, case.id, member)
        if len(members) > 1:
            first = self.vault.auth.login(members[0], PASSPHRASE, None, address="127.0.0.1").actor
            for member in members[1:]:
                self.vault.cases.approve(first, case.id, member)
        return str(case.id)

    def new_token(self, session: str, scopes: list[str], expires_in: int = 3600) -> dict[str, Any]:
        response = self.client.post(
            "/v1/tokens",
            headers=bearer(session),
            json={"name": f"script {'+'.join(scopes)}", "scopes": scopes, "expires_in": expires_in},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def throttle_row(self, key: str) -> Throttle | None:
        with self.vault.session() as db:
            return db.get(Throttle, key)

    def credentials(self) -> list[Credential]:
        with self.vault.session() as db:
            return list(db.exec(select(Credential)).all())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (without the ones that differ per request) and body."""
    headers = {
        k.lower(): v
        for k, v in response.headers.items()
        if k.lower() not in ("date", "x-request-id")
    }
    return response.status_code, headers, response.content


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == TYPE_PREFIX + slug
    assert body["status"] == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    return body


def _open_env(settings: Settings) -> Iterator[Env]:
    clock = FakeClock()
    init_vault(settings, admin="admin", passphrase=PASSPHRASE, clock=clock)
    vault = Vault.open(settings, clock=clock)
    try:
        with vault.session() as db:
            admin = users.actor_for(users.find_user(db, "admin"))
        app = create_app(settings, vault=vault, clock=clock)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Env(vault, clock, app, client, admin)
    finally:
        vault.close()


@pytest.fixture
def env(settings: Settings) -> Iterator[Env]:
    """No role needs TOTP (as in ``settings``)."""
    yield from _open_env(settings)


@pytest.fixture
def totp_env(settings: Settings) -> Iterator[Env]:
    """Editors and administrators need TOTP (the default)."""
    yield from _open_env(settings.with_overrides(totp_required_roles="editor,admin"))


def enroll(
    env: Env, username: str, code: str, passphrase: str = OTHER_PASSPHRASE
) -> httpx.Response:
    return env.client.post(
        "/v1/auth/enroll", json={"username": username, "code": code, "passphrase": passphrase}
    )


def count_derivations(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count Argon2id derivations from now on."""
    calls: list[None] = []
    real = crypto.derive_passphrase_keys

    def counting(*args: Any, **kwargs: Any) -> crypto.PassphraseKeys:
        calls.append(None)
        return real(*args, **kwargs)

    monkeypatch.setattr(crypto, "derive_passphrase_keys", counting)
    return lambda: len(calls)


def retry_after(response: httpx.Response) -> int:
    assert_problem(response, 429, "rate-limited")
    value = response.headers["retry-after"]
    assert re.fullmatch(r"[1-9][0-9]*", value), value  # delay-seconds, RFC 9110 §10.2.3
    return int(value)


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def all_rows(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the database holds (found by reflection, not from the
    models, so that a table the models forget is searched too)."""
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {
            table.name: [dict(row) for row in conn.execute(sa.select(table)).mappings()]
            for table in meta.sorted_tables
        }


def occurrences(tables: dict[str, list[dict[str, Any]]], needles: dict[str, bytes]) -> list[str]:
    """Where in ``tables`` each needle occurs, as ``"label in table.column"``."""
    found = []
    for name, rows in tables.items():
        for row in rows:
            for column, value in row.items():
                if value is None:
                    continue
                data = as_bytes(value)
                found += [
                    f"{label} in {name}.{column}" for label, n in needles.items() if n in data
                ]
    return found


def totp_secret(uri: str) -> bytes:
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    secret = parse_qs(parts.query)["secret"][0]
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def otp_now(secret: bytes, clock: FakeClock) -> str:
    return crypto.totp_code(secret, clock().timestamp())


def wrong_otp(secret: bytes, clock: FakeClock) -> str:
    """Six digits that no step in the accepted window yields."""
    at = clock().timestamp()
    window = {crypto.totp_code(secret, at + drift) for drift in (-30, 0, 30)}
    return next(code for code in (f"{n:06d}" for n in range(10)) if code not in window)


# -- enrolment --------------------------------------------------------------------------------


def test_enrolment_code_activates_the_account_once(env: Env) -> None:
    code = env.invite("jules")
    response = enroll(env, "jules", code)
    assert response.status_code == 200, response.text
    assert response.json() == {"active": True, "totp_uri": None}
    token = env.session("jules", OTHER_PASSPHRASE)
    assert env.me(token).json()["username"] == "jules"
    # The code is spent: it can neither set another passphrase nor be tried again.
    again = enroll(env, "jules", code, "a brand new passphrase nobody guesses")
    assert_problem(again, 401, "unauthenticated")
    with env.vault.session() as db:
        user = users.find_user(db, "jules")
        assert user.enrolment_code_hash is None
        assert user.enrolment_expires_at is None


def test_expired_enrolment_code_fails_like_a_wrong_one(env: Env) -> None:
    code = env.invite("jules")
    env.clock.advance(hours=24, seconds=1)
    expired = enroll(env, "jules", code)
    assert_problem(expired, 401, "unauthenticated")
    wrong = enroll(env, "jules", "0123-4567-89ab-cdef")
    assert comparable(expired) == comparable(wrong)


def test_wrong_code_and_unknown_user_fail_identically(env: Env) -> None:
    code = env.invite("jules")
    wrong = enroll(env, "jules", "0123-4567-89ab-cdef")
    unknown = enroll(env, "nobody-here", code)
    body = assert_problem(wrong, 401, "unauthenticated")
    assert comparable(wrong) == comparable(unknown)
    assert "jules" not in body["detail"]
    # Failed guesses do not use the code up.
    assert enroll(env, "jules", code).status_code == 200


@pytest.mark.parametrize("weak", ["password1234", "short pass"])
def test_weak_passphrase_is_refused_without_echo(env: Env, weak: str) -> None:
    code = env.invite("jules")
    response = enroll(env, "jules", code, weak)
    body = assert_problem(response, 422, "invalid-input")
    assert "passphrase" in body["detail"]
    assert weak not in response.text
    assert weak.encode() not in b"".join(v.encode() for v in response.headers.values())
    # A refused passphrase leaves the code usable.
    assert enroll(env, "jules", code).status_code == 200


# -- two-factor authentication ----------------------------------------------------------------


def test_totp_enrolment_confirmation_and_login(totp_env: Env) -> None:
    env = totp_env
    code = env.invite("erin", Role.EDITOR)
    enrolled = enroll(env, "erin", code)
    assert enrolled.status_code == 200, enrolled.text
    body = enrolled.json()
    assert body["active"] is False
    assert body["totp_uri"].startswith("otpauth://totp/")
    secret = totp_secret(body["totp_uri"])
    assert len(secret) == 20

    # Not active until a first code is confirmed, even with the right passphrase and code.
    early = env.login("erin", OTHER_PASSPHRASE, otp_now(secret, env.clock))
    assert_problem(early, 401, "unauthenticated")

    confirm = env.client.post(
        "/v1/auth/enroll/confirm",
        json={
            "username": "erin",
            "passphrase": OTHER_PASSPHRASE,
            "otp": otp_now(secret, env.clock),
        },
    )
    assert confirm.status_code == 204, confirm.text

    without = env.login("erin", OTHER_PASSPHRASE)
    assert assert_problem(without, 401, "otp-required")["type"].endswith("otp-required")

    # The confirming code is spent; the next step's code logs in.
    env.clock.advance(seconds=30)
    first = otp_now(secret, env.clock)
    ok = env.login("erin", OTHER_PASSPHRASE, first)
    assert ok.status_code == 200, ok.text
    assert env.me(ok.json()["token"]).json()["role"] == "editor"

    replay = env.login("erin", OTHER_PASSPHRASE, first)
    assert_problem(replay, 401, "unauthenticated")

    env.clock.advance(seconds=30)
    nxt = env.login("erin", OTHER_PASSPHRASE, otp_now(secret, env.clock))
    assert nxt.status_code == 200, nxt.text

    # A wrong code is a failed login like a wrong passphrase: it counts towards throttling.
    key = throttle.account_key("erin")
    assert env.throttle_row(key) is None  # the success cleared the account's failures
    wrong = env.login("erin", OTHER_PASSPHRASE, wrong_otp(secret, env.clock))
    assert comparable(wrong) == comparable(replay)
    row = env.throttle_row(key)
    assert row is not None
    assert row.failures == 1


def test_two_logins_racing_with_one_code_let_only_one_in(totp_env: Env) -> None:
    env = totp_env
    code = env.invite("erin", Role.EDITOR)
    secret = totp_secret(enroll(env, "erin", code).json()["totp_uri"])
    confirm = env.client.post(
        "/v1/auth/enroll/confirm",
        json={
            "username": "erin",
            "passphrase": OTHER_PASSPHRASE,
            "otp": otp_now(secret, env.clock),
        },
    )
    assert confirm.status_code == 204, confirm.text
    env.clock.advance(seconds=30)
    otp = otp_now(secret, env.clock)
    barrier = threading.Barrier(2)

    def attempt() -> int:
        with TestClient(env.app) as client:
            barrier.wait()
            return env.login("erin", OTHER_PASSPHRASE, otp, client=client).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(lambda _: attempt(), range(2)))
    assert statuses == [200, 401]


# -- failed logins ----------------------------------------------------------------------------


def test_unknown_user_and_wrong_passphrase_answer_alike(env: Env) -> None:
    env.add_user("jules")
    env.invite("joan")  # exists, not enrolled yet
    wrong = env.login("jules", WRONG_PASSPHRASE)
    body = assert_problem(wrong, 401, "unauthenticated")
    unknown = env.login("nobody-here", WRONG_PASSPHRASE)
    pending = env.login("joan", WRONG_PASSPHRASE)
    assert comparable(unknown) == comparable(wrong)
    assert comparable(pending) == comparable(wrong)
    assert "jules" not in body["detail"]


def test_unknown_user_takes_as_long_as_wrong_passphrase(env: Env) -> None:
    env.add_user("jules")

    def timed(username: str) -> float:
        env.clock.advance(hours=2)  # earlier failures are forgotten: nothing is throttled
        started = time.perf_counter()
        response = env.login(username, WRONG_PASSPHRASE)
        elapsed = time.perf_counter() - started
        assert response.status_code == 401, response.text
        return elapsed

    timed("nobody-here")  # warm-up
    timed("jules")
    unknown, known = [], []
    for _ in range(5):  # interleaved, so that a slow spell of the machine hits both
        unknown.append(timed("nobody-here"))
        known.append(timed("jules"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 <= ratio <= 2.0, (ratio, unknown, known)


# -- sessions ---------------------------------------------------------------------------------


def test_session_token_is_256_random_bits_stored_only_as_a_hash(env: Env) -> None:
    env.add_user("jules")
    first = env.session("jules")
    second = env.session("jules")
    for token in (first, second):
        assert TOKEN_RE.fullmatch(token), token
        assert len(base64.urlsafe_b64decode(token[3:] + "=")) == 32
    assert first != second
    rows = env.credentials()
    assert {row.token_hash for row in rows} == {
        crypto.hash_bearer_token(first),
        crypto.hash_bearer_token(second),
    }
    assert all(re.fullmatch(r"[0-9a-f]{64}", row.token_hash) for row in rows)
    needles = {
        label: value
        for n, token in enumerate((first, second))
        for label, value in (
            (f"token {n}", token.encode()),
            (f"token {n} body", token[3:].encode()),
            (f"token {n} bytes", base64.urlsafe_b64decode(token[3:] + "=")),
        )
    }
    assert occurrences(all_rows(env.vault.engine), needles) == []


def test_session_ends_after_30_idle_minutes(env: Env) -> None:
    env.add_user("jules")
    token = env.session("jules")
    env.clock.advance(minutes=29)
    assert env.me(token).status_code == 200
    env.clock.advance(minutes=29)  # 58 minutes in, but used 29 minutes ago
    assert env.me(token).status_code == 200
    env.clock.advance(minutes=30, seconds=1)
    assert_problem(env.me(token), 401, "unauthenticated")


def test_a_sessions_last_use_is_recorded_when_it_moved_by_15_seconds(env: Env) -> None:
    """Not on every request (a commit each): a use 10 s after the stored one is not written,
    so the session ends up to that much early; a use 20 s after it is written."""
    env.add_user("jules")
    token = env.session("jules")
    env.clock.advance(seconds=20)
    assert env.me(token).status_code == 200  # recorded: 20 s after the login
    env.clock.advance(seconds=10)
    assert env.me(token).status_code == 200  # not recorded: 10 s after the stored use
    env.clock.advance(minutes=29, seconds=55)  # 29:55 after the last use, 30:05 after the stored
    assert_problem(env.me(token), 401, "unauthenticated")
    token = env.session("jules")
    env.clock.advance(seconds=20)
    assert env.me(token).status_code == 200
    env.clock.advance(minutes=29, seconds=50)  # 30:10 after the login, 29:50 after the use
    assert env.me(token).status_code == 200


def test_session_ends_after_12_hours_despite_activity(env: Env) -> None:
    env.add_user("jules")
    started = env.clock()
    response = env.login("jules")
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    assert datetime.fromisoformat(response.json()["expires_at"]) == started + timedelta(hours=12)
    for _ in range(35):  # in use every 20 minutes, up to 11 h 40 min
        env.clock.advance(minutes=20)
        assert env.me(token).status_code == 200, env.clock()
    env.clock.advance(minutes=20)
    assert_problem(env.me(token), 401, "unauthenticated")


def test_logout_ends_only_that_session(env: Env) -> None:
    env.add_user("jules")
    token = env.session("jules")
    other = env.session("jules")
    response = env.client.post("/v1/auth/logout", headers=bearer(token))
    assert response.status_code == 204, response.text
    assert_problem(env.me(token), 401, "unauthenticated")
    assert_problem(
        env.client.post("/v1/auth/logout", headers=bearer(token)), 401, "unauthenticated"
    )
    assert env.me(other).status_code == 200
    row = next(r for r in env.credentials() if r.token_hash == crypto.hash_bearer_token(token))
    assert row.revoked_at is not None
    assert row.sealed_key is None  # the key sealed under the token is gone with it


# -- API tokens -------------------------------------------------------------------------------


def test_api_tokens_scopes_listing_and_revocation(env: Env) -> None:
    env.add_user("jules")
    env.add_user("erin", Role.EDITOR)
    case = env.new_case("jules", "erin")
    session = env.session("jules")
    upload = env.new_token(session, ["upload"])
    read = env.new_token(session, ["read"])
    for created in (upload, read):
        assert TOKEN_RE.fullmatch(created["token"])
    assert upload["scopes"] == ["upload"]
    assert read["scopes"] == ["read"]

    listing = env.client.get("/v1/tokens", headers=bearer(session))
    assert listing.status_code == 200, listing.text
    listed = listing.json()["tokens"]
    assert {t["id"] for t in listed} == {upload["id"], read["id"]}
    assert all("token" not in t for t in listed)
    assert upload["token"] not in listing.text
    assert read["token"] not in listing.text

    content = b"minutes of the closed session, page 4 " * 100
    created = env.client.post(
        "/v1/documents",
        headers=bearer(upload["token"]),
        data={"case": case, "title": "Minutes"},
        files={"file": ("minutes.txt", content, "text/plain")},
    )
    assert created.status_code == 201, created.text
    doc = created.json()["id"]
    assert_problem(
        env.client.get(f"/v1/documents/{doc}", headers=bearer(upload["token"])), 404, "not-found"
    )
    assert_problem(
        env.client.get(f"/v1/documents/{doc}/content", headers=bearer(upload["token"])),
        404,
        "not-found",
    )
    rows = {str(row.id): row for row in env.credentials()}
    assert rows[upload["id"]].sealed_key is None
    assert rows[read["id"]].sealed_key is not None

    got = env.client.get(f"/v1/documents/{doc}/content", headers=bearer(read["token"]))
    assert got.status_code == 200, got.text
    assert got.content == content

    for token in (upload["token"], read["token"]):
        minted = env.client.post(
            "/v1/tokens", headers=bearer(token), json={"name": "child", "scopes": ["upload"]}
        )
        assert_problem(minted, 404, "not-found")

    revoked = env.client.delete(f"/v1/tokens/{read['id']}", headers=bearer(session))
    assert revoked.status_code == 204, revoked.text
    assert_problem(env.me(read["token"]), 401, "unauthenticated")
    assert_problem(
        env.client.get(f"/v1/documents/{doc}/content", headers=bearer(read["token"])),
        401,
        "unauthenticated",
    )
    listing = env.client.get("/v1/tokens", headers=bearer(session))
    assert [t["id"] for t in listing.json()["tokens"]] == [upload["id"]]
    assert next(r for r in env.credentials() if str(r.id) == read["id"]).sealed_key is None

    # Someone else's token answers like one that does not exist, and stays valid.
    erins = env.new_token(env.session("erin"), ["read"])
    theirs = env.client.delete(f"/v1/tokens/{erins['id']}", headers=bearer(session))
    missing = env.client.delete(f"/v1/tokens/{uuid.uuid4()}", headers=bearer(session))
    assert_problem(theirs, 404, "not-found")
    assert comparable(theirs) == comparable(missing)
    assert env.me(erins["token"]).status_code == 200


def test_api_token_expires_and_does_not_idle_out(env: Env) -> None:
    env.add_user("jules")
    session = env.session("jules")
    token = env.new_token(session, ["read"], expires_in=3600)["token"]
    env.clock.advance(minutes=59)  # unused for longer than a session's idle limit
    assert env.me(token).status_code == 200
    assert_problem(env.me(session), 401, "unauthenticated")
    env.clock.advance(minutes=1)
    assert_problem(env.me(token), 401, "unauthenticated")


def test_token_with_every_scope_cannot_mint_tokens_either(env: Env) -> None:
    env.add_user("jules")
    session = env.session("jules")
    both = env.new_token(session, ["read", "upload"])
    one = env.new_token(session, ["read"])["token"]
    body = {"name": "child", "scopes": ["upload"]}
    from_both = env.client.post("/v1/tokens", headers=bearer(both["token"]), json=body)
    from_one = env.client.post("/v1/tokens", headers=bearer(one), json=body)
    assert_problem(from_one, 404, "not-found")
    assert comparable(from_both) == comparable(from_one)
    listing = env.client.get("/v1/tokens", headers=bearer(session))
    assert len(listing.json()["tokens"]) == 2


# -- throttling -------------------------------------------------------------------------------


def test_account_throttle_blocks_grows_and_clears(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.add_user("jules")
    derivations = count_derivations(monkeypatch)
    failing = []
    for _ in range(throttle.FREE_FAILURES):
        started = time.perf_counter()
        assert_problem(env.login("jules", WRONG_PASSPHRASE), 401, "unauthenticated")
        failing.append(time.perf_counter() - started)
    assert derivations() == throttle.FREE_FAILURES

    # Blocked: refused at once, even with the right passphrase, without any derivation.
    durations, waits = [], []
    for _ in range(5):
        started = time.perf_counter()
        blocked = env.login("jules")
        durations.append(time.perf_counter() - started)
        waits.append(retry_after(blocked))
    assert derivations() == throttle.FREE_FAILURES
    # Measured against the failures above, which each paid a derivation, so that a busy
    # machine (the suite runs on every core) slows both alike.
    assert statistics.median(durations) < statistics.median(failing) / 3, (durations, failing)
    first = waits[0]
    assert set(waits) == {first}

    # After the block, one more failure blocks for longer.
    env.clock.advance(seconds=first)
    assert_problem(env.login("jules", WRONG_PASSPHRASE), 401, "unauthenticated")
    second = retry_after(env.login("jules"))
    assert second > first

    env.clock.advance(seconds=second)
    assert env.login("jules").status_code == 200
    assert env.throttle_row(throttle.account_key("jules")) is None
    # The account's count starts again (from another address, whose own count is clean): a
    # failure is a plain 401 and the right passphrase gets in.
    with TestClient(env.app, client=("192.0.2.10", 50000)) as other:
        assert_problem(env.login("jules", WRONG_PASSPHRASE, client=other), 401, "unauthenticated")
        assert env.login("jules", client=other).status_code == 200


def test_address_throttle_spans_usernames(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.add_user("jules")
    for n in range(env.vault.settings.address_free_failures):
        response = env.login(f"guess-{n}", WRONG_PASSPHRASE)
        assert_problem(response, 401, "unauthenticated")
    derivations = count_derivations(monkeypatch)
    retry_after(env.login("guess-new", WRONG_PASSPHRASE))
    retry_after(env.login("jules"))  # an account with no failures, and the right passphrase
    # Refused before any key derivation: that, not a wall-clock bound a busy machine can miss,
    # is what makes a blocked attempt cheap.
    assert derivations() == 0
    # "testclient" is blocked, not everyone.
    with TestClient(env.app, client=("192.0.2.10", 50000)) as other:
        assert env.login("jules", client=other).status_code == 200


# -- what a copy of the database yields --------------------------------------------------------


def _database_copy(env: Env, tmp_path: Path) -> tuple[dict[str, list[dict[str, Any]]], bytes]:
    """Every row of a copy of the database, and the copy's bytes where it is a file.

    SQLite: an online backup of the live database (WAL content included), read from the copy.
    PostgreSQL: the rows as a dump would hold them, read directly."""
    settings = env.vault.settings
    if settings.database_url is not None:
        return all_rows(env.vault.engine), b""
    copy = tmp_path / "copy.db"
    source = sqlite3.connect(settings.data_dir / "vault.db")
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    engine = sa.create_engine(f"sqlite:///{copy}")
    try:
        return all_rows(engine), copy.read_bytes()
    finally:
        engine.dispose()


def test_database_copy_cannot_unlock_any_key(env: Env, tmp_path: Path) -> None:
    env.add_user("jules")
    env.new_case("jules")
    session = env.session("jules")
    read = env.new_token(session, ["read"])["token"]
    upload = env.new_token(session, ["upload"])["token"]
    assert env.me(read).status_code == 200  # all three live

    tables, raw = _database_copy(env, tmp_path)
    if env.vault.settings.database_url is None:
        assert raw.startswith(b"SQLite format 3\x00")

    # Nothing in the copy is a token or a passphrase.
    needles = {"passphrase": PASSPHRASE.encode()}
    for label, token in (("session", session), ("read token", read), ("upload token", upload)):
        needles[label] = token.encode()
        needles[label + " bytes"] = base64.urlsafe_b64decode(token[3:] + "=")
    assert occurrences(tables, needles) == []
    assert [label for label, needle in needles.items() if needle in raw] == []
    # Nor any file the vault keeps (the live database, its WAL, the blobs).
    for path in sorted(env.vault.settings.data_dir.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            assert [label for label, n in needles.items() if n in data] == [], path

    # Knowing a credential row but not its token opens nothing.
    key_ids = {as_uuid(u["id"]): u["key_id"] for u in tables["users"]}
    credentials = tables["credentials"]
    assert len(credentials) == 3
    sealed = [c for c in credentials if c["sealed_key"] is not None]
    assert len(sealed) == 2  # the session and the read token; the upload token carries no key
    for row in sealed:
        credential_id = as_uuid(row["id"])
        key_id = key_ids[as_uuid(row["user_id"])]
        for guess in (crypto.new_bearer_token(), row["token_hash"], "sv_" + row["token_hash"][:43]):
            with pytest.raises(IntegrityError):
                crypto.open_with_token(
                    guess, as_bytes(row["sealed_key"]), credential_id=credential_id, key_id=key_id
                )
    # Nor does a stolen token with the copy: the key it seals under is salted with the server's
    # pepper, derived from the seal key file outside the database. With that file as well (the
    # server's files, not only its database), the rows are the real thing and open.
    by_hash = {row["token_hash"]: row for row in sealed}
    seal_key = read_seal_key(env.vault.settings.seal_key_path, create=False)
    pepper = hmac.new(seal_key, b"source-vault/v2 token-pepper", hashlib.sha256).digest()
    for token in (session, read):
        row = by_hash[crypto.hash_bearer_token(token)]
        opening = {
            "credential_id": as_uuid(row["id"]),
            "key_id": key_ids[as_uuid(row["user_id"])],
        }
        with pytest.raises(IntegrityError):
            crypto.open_with_token(token, as_bytes(row["sealed_key"]), **opening)
        key = crypto.open_with_token(token, as_bytes(row["sealed_key"]), **opening, pepper=pepper)
        assert key.public_key().key_id == key_ids[as_uuid(row["user_id"])]

    # And the passphrase-sealed key does not open under a wrong passphrase.
    jules = next(u for u in tables["users"] if u["username"] == "jules")
    params = crypto.Argon2Params(
        memory_kib=jules["kdf_memory_kib"],
        time_cost=jules["kdf_time_cost"],
        lanes=jules["kdf_lanes"],
    )
    keys = crypto.derive_passphrase_keys(WRONG_PASSPHRASE, as_bytes(jules["kdf_salt"]), params)
    assert keys.verifier != as_bytes(jules["login_verifier"])
    with pytest.raises(IntegrityError):
        crypto.open_private_key(
            keys.kek,
            as_bytes(jules["sealed_private_key"]),
            owner_id=as_uuid(jules["id"]),
            key_id=jules["key_id"],
        )


# -- disabled accounts ------------------------------------------------------------------------


def test_disabled_user_is_refused_everywhere(env: Env) -> None:
    env.add_user("jules")
    session = env.session("jules")
    token = env.new_token(session, ["read"])["token"]
    assert env.me(session).status_code == 200
    env.vault.users.set_enabled("jules", False)
    assert_problem(env.me(session), 401, "unauthenticated")
    assert_problem(env.me(token), 401, "unauthenticated")
    refused = env.login("jules")  # the right passphrase
    unknown = env.login("nobody-here")
    assert_problem(refused, 401, "unauthenticated")
    assert comparable(refused) == comparable(unknown)
    # Re-enabling does not bring the old credentials back.
    env.vault.users.set_enabled("jules", True)
    assert_problem(env.me(session), 401, "unauthenticated")
    assert_problem(env.me(token), 401, "unauthenticated")
