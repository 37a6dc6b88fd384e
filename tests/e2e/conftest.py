"""A real ``vault serve`` process on a free local port, against a vault made with the CLI.

``live_vault`` starts one (``database_url`` makes it run on SQLite and, with
``VAULT_TEST_DATABASE_URL``, on PostgreSQL); the fixture stops it at the end and fails the test
if any process it started outlives the server.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support.cli import VAULT, run_vault, vault_env
from tests.support.server import Server, start_vault_serve, stop_server

__all__ = ["PASSPHRASE", "VAULT", "LiveVault", "start_live_vault", "stop_live_vault"]

PASSPHRASE = "quiet lantern orbit meadow 42"
USERS = {"jules": "journalist"}
_TLS = ssl.create_default_context()


@dataclass
class LiveVault:
    """A served vault: an administrator ``admin`` and a journalist ``jules``, both with
    ``PASSPHRASE``, and one case (``case_id``) the journalist belongs to."""

    server: Server
    data_dir: Path
    env: dict[str, str]
    case_id: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.server.process

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    @property
    def port(self) -> int:
        return self.server.port

    def client(self, **kwargs: Any) -> httpx.Client:
        # Plain HTTP: the shared TLS context only spares building one per client.
        return httpx.Client(base_url=self.base_url, timeout=60.0, verify=_TLS, **kwargs)

    def login(self, username: str) -> str:
        with self.client() as client:
            response = client.post(
                "/v1/auth/login", json={"username": username, "passphrase": PASSPHRASE}
            )
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        self.tokens[username] = token
        return token

    def auth(self, username: str) -> dict[str, str]:
        token = self.tokens.get(username) or self.login(username)
        return {"Authorization": f"Bearer {token}"}

    def log(self) -> str:
        return self.server.log()

    def workers(self) -> list[psutil.Process]:
        return self.server.descendants()


def _run(root: Path, env: dict[str, str], *args: str | Path) -> None:
    # In this process: making the vault is not what these tests are about, and each command
    # would cost an interpreter start-up.
    done = run_vault(*args, cwd=root, env=env, in_process=True)
    assert done.returncode == 0, (args, done.stdout, done.stderr)


def start_live_vault(
    root: Path,
    database_url: str | None,
    *,
    workers: int = 1,
    users: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> LiveVault:
    """Make a vault in ``root`` with the CLI (``admin`` plus ``users``, username -> role, all
    with ``PASSPHRASE``), serve it on a free port, create the case ``harbour-contracts`` with
    every user in ``users`` as a member, and wait until it is ready. ``extra_env`` adds to the
    environment of every command and of the server (``VAULT_*`` settings)."""
    users = USERS if users is None else users
    root.mkdir(parents=True)
    data_dir = root / "data"
    # The server reads its settings from the environment; start from a clean VAULT_* slate.
    env = vault_env(columns=None, VAULT_DATA_DIR=str(data_dir), VAULT_TOTP_REQUIRED_ROLES="")
    if database_url is not None:
        env["VAULT_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    passphrase_file = root / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    _run(
        root,
        env,
        "init",
        "--admin",
        "admin",
        "--data-dir",
        str(data_dir),
        "--passphrase-file",
        str(passphrase_file),
        "--recovery-out",
        str(root / "shares"),
    )
    for username, role in users.items():
        _run(
            root,
            env,
            "users",
            "add",
            username,
            "--role",
            role,
            "--data-dir",
            str(data_dir),
            "--passphrase-file",
            str(passphrase_file),
        )
    server = start_vault_serve(data_dir, env=env, log_path=root / "server.log", workers=workers)
    live = LiveVault(server, data_dir, env)
    try:
        with live.client(headers=live.auth("admin")) as admin:
            case = admin.post("/v1/cases", json={"name": "harbour-contracts"})
            assert case.status_code == 201, case.text
            live.case_id = case.json()["id"]
            for username in users:
                added = admin.post(f"/v1/cases/{live.case_id}/members", json={"username": username})
                assert added.status_code == 204, added.text
        # The first member is approved by being added; they approve the others.
        founder, *others = list(users) or [None]
        if founder is not None and others:
            with live.client(headers=live.auth(founder)) as first:
                for username in others:
                    approved = first.post(
                        f"/v1/cases/{live.case_id}/approvals", json={"username": username}
                    )
                    assert approved.status_code == 200, approved.text
    except BaseException:
        stop_live_vault(live)
        raise
    return live


def stop_live_vault(live: LiveVault) -> list[str]:
    """Stop the server; describe (and kill) any process it started that outlived it."""
    return stop_server(live.server)


@contextmanager
def checked_live_vault(root: Path, **options: Any) -> Iterator[LiveVault]:
    """``start_live_vault(root, None, **options)`` for a module of raw-socket tests: on the way
    out the server is stopped, nothing it started may outlive it, and its log may hold no
    traceback and no unhandled error."""
    server = start_live_vault(root, None, **options)
    try:
        yield server
    finally:
        leftovers = stop_live_vault(server)
        assert not leftovers, leftovers
        log = server.log()
        assert "Traceback" not in log
        assert '"unhandled error"' not in log


@pytest.fixture
def live_vault_factory(
    tmp_path: Path, database_url: str | None
) -> Iterator[Callable[..., LiveVault]]:
    """Start ``vault serve`` against a fresh vault; several may run in one test."""
    started: list[LiveVault] = []

    def start(*, workers: int = 1, extra_env: dict[str, str] | None = None) -> LiveVault:
        live = start_live_vault(
            tmp_path / f"server-{len(started)}",
            database_url,
            workers=workers,
            extra_env=extra_env,
        )
        started.append(live)
        return live

    yield start
    leftovers = [entry for live in started for entry in stop_live_vault(live)]
    assert not leftovers, f"processes outlived vault serve: {leftovers}"


@pytest.fixture
def live_vault(live_vault_factory: Callable[..., LiveVault]) -> LiveVault:
    return live_vault_factory()
