"""``vault tokens``: the console script's entry point against the shared live ``vault serve``.
A token made with ``vault tokens create`` is shown once, works as ``VAULT_TOKEN`` for the review
commands within its scope, and stops working the moment it is revoked."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.cli.conftest import ReviewServer, in_parallel
from tests.support.cli import AUTH, NOT_FOUND, USAGE, assert_error
from vault.cli.remote import tokens
from vault.errors import InvalidInput, NotFound

TOKEN_RE = re.compile(r"^sv_[A-Za-z0-9_-]{43}$")


def with_token(server: ReviewServer, token: str) -> dict[str, str]:
    """An environment with no saved login, only ``VAULT_SERVER`` and ``VAULT_TOKEN``."""
    return server.env(None, VAULT_SERVER=server.url, VAULT_TOKEN=token)


def listed(server: ReviewServer, user: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(server.ok(user, "tokens", "ls", "--json"))["tokens"]
    return found


def test_a_created_token_works_until_it_is_revoked(review_server: ReviewServer) -> None:
    name = f"nightly export {secrets.token_hex(3)}"
    made = review_server.vault("jules", "tokens", "create", "--name", name, "--scope", "read")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert TOKEN_RE.match(token), made.stdout  # stdout is the token and nothing else
    assert "shown" in made.stderr
    assert "once" in made.stderr
    assert token not in made.stderr

    table, as_json, used = in_parallel(
        review_server,
        ("jules", ["tokens", "ls"], None),
        ("jules", ["tokens", "ls", "--json"], None),
        (None, ["cases", "ls", "--json"], with_token(review_server, token)),
    )
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:2] == ["ID", "NAME"]
    assert name in table.stdout
    assert token not in table.stdout + as_json.stdout  # never shown again
    mine = next(t for t in json.loads(as_json.stdout)["tokens"] if t["name"] == name)
    assert set(mine) == {"id", "name", "scopes", "created_at", "expires_at", "last_used_at"}
    assert mine["scopes"] == ["read"]
    assert mine["id"][:8] in table.stdout
    assert used.returncode == 0, used.stderr
    assert review_server.case_id in {c["id"] for c in json.loads(used.stdout)["cases"]}

    revoked = review_server.vault("jules", "tokens", "revoke", mine["id"][:8])
    assert revoked.returncode == 0, revoked.stderr
    assert mine["id"] in revoked.stderr
    after, gone = in_parallel(
        review_server,
        (None, ["cases", "ls"], with_token(review_server, token)),
        ("jules", ["tokens", "ls", "--json"], None),
    )
    assert_error(after, AUTH)
    assert mine["id"] not in {t["id"] for t in json.loads(gone.stdout)["tokens"]}


def test_scopes_expiry_and_json(review_server: ReviewServer) -> None:
    name = f"uploader {secrets.token_hex(3)}"
    made = review_server.vault(
        "erin", "tokens", "create", "--name", name, "--scope", "upload", "--scope", "read",
        "--scope", "upload", "--expires-in", "2", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    answer = json.loads(made.stdout)
    assert TOKEN_RE.match(answer["token"])
    assert answer["scopes"] == ["read", "upload"]
    lifetime = datetime.fromisoformat(answer["expires_at"]) - datetime.fromisoformat(
        answer["created_at"]
    )
    assert lifetime == timedelta(days=2)
    assert datetime.fromisoformat(answer["expires_at"]) > datetime.now(UTC)

    upload_only = json.loads(
        review_server.ok(
            "erin", "tokens", "create", "--name", f"{name} 2", "--scope", "upload", "--json"
        )
    )
    reading, minting = in_parallel(
        review_server,
        # An upload token reads nothing, not even the list of cases...
        (None, ["cases", "ls"], with_token(review_server, upload_only["token"])),
        # ...and no token mints tokens: that takes a person at a login session.
        (
            None,
            ["tokens", "create", "--name", "child", "--scope", "read"],
            with_token(review_server, answer["token"]),
        ),
    )
    assert_error(reading, NOT_FOUND)
    assert_error(minting, NOT_FOUND)
    for made in (answer, upload_only):
        review_server.ok("erin", "tokens", "revoke", made["id"])


def test_refusals(review_server: ReviewServer) -> None:
    bad_scope, no_scope, bad_days, short, unknown, not_mine = in_parallel(
        review_server,
        ("jules", ["tokens", "create", "--name", "x", "--scope", "delete"], None),
        ("jules", ["tokens", "create", "--name", "x"], None),
        (
            "jules",
            ["tokens", "create", "--name", "x", "--scope", "read", "--expires-in", "0"],
            None,
        ),
        ("jules", ["tokens", "revoke", "ab"], None),
        ("jules", ["tokens", "revoke", "ffffffff"], None),
        ("joan", ["tokens", "revoke", "00000000-0000-4000-8000-000000000000"], None),
    )
    for usage in (bad_scope, no_scope, bad_days):
        assert usage.returncode == USAGE, usage.stderr  # Click's usage error
        assert "Traceback" not in usage.stderr
    assert "too short" in assert_error(short, USAGE)
    assert_error(unknown, NOT_FOUND)
    assert_error(not_mine, NOT_FOUND)


LISTED = [
    {"id": "0a1b2c3d-0000-4000-8000-000000000001", "name": "a"},
    {"id": "0a1b2c3d-1111-4000-8000-000000000002", "name": "b"},
    {"id": "9f8e7d6c-0000-4000-8000-000000000003", "name": "c"},
]


def test_token_prefix_rules() -> None:
    assert tokens._resolve_token(LISTED, "9f8e")["name"] == "c"
    assert tokens._resolve_token(LISTED, "0A1B2C3D-1")["name"] == "b"
    assert tokens._resolve_token(LISTED, LISTED[0]["id"].upper())["name"] == "a"
    with pytest.raises(InvalidInput, match="matches 2 tokens"):
        tokens._resolve_token(LISTED, "0a1b2c3d")
    with pytest.raises(InvalidInput, match="too short"):
        tokens._resolve_token(LISTED, "9f8")
    with pytest.raises(NotFound):
        tokens._resolve_token(LISTED, "abcdef")
