"""A real ``vault serve`` process on a free local port, against a vault made with the CLI.

``live_vault`` starts one (``database_url`` makes it run on SQLite and, with
``VAULT_TEST_DATABASE_URL``, on PostgreSQL); the fixture stops it at the end and fails the test
if any process it started outlives the server.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

VAULT = str(Path(sys.executable).with_name("vault"))
PASSPHRASE = "quiet lantern orbit meadow 42"
USERS = {"jules": "journalist"}
READY_TIMEOUT = 60.0
_TLS = ssl.create_default_context()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveVault:
    """A served vault: an administrator ``admin`` and a journalist ``jules``, both with
    ``PASSPHRASE``, and one case (``case_id``) the journalist belongs to."""

    base_url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    case_id: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

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

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([VAULT, *args], env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, (args, done.stdout.decode(), done.stderr.decode())
    return done.stdout.decode()


def _environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    # The server reads its settings from the environment; start from a clean VAULT_* slate.
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env["VAULT_DATA_DIR"] = str(data_dir)
    env["VAULT_TOTP_REQUIRED_ROLES"] = ""  # log in without a one-time code
    if database_url is not None:
        env["VAULT_DATABASE_URL"] = database_url
    return env


def _wait_ready(live: LiveVault, workers: int) -> None:
    """Until /readyz answers and every worker has logged that its startup is complete."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if live.process.poll() is not None:
            pytest.fail(f"vault serve exited with {live.process.returncode}:\n{live.log()}")
        try:
            ready = httpx.get(f"{live.base_url}/readyz", timeout=2.0).status_code == 200
        except httpx.TransportError:
            ready = False
        if ready and live.log().count("Application startup complete") >= workers:
            return
        time.sleep(0.1)
    pytest.fail(f"vault serve was not ready within {READY_TIMEOUT} s:\n{live.log()}")


def _stop(live: LiveVault) -> list[str]:
    """Terminate the server (SIGTERM; uvicorn's supervisor stops its workers) and return a
    description of every process it started that is still alive afterwards (killed now)."""
    try:
        descendants = live.workers()
    except psutil.NoSuchProcess:
        descendants = []
    live.process.terminate()
    try:
        live.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        live.process.kill()
        live.process.wait(timeout=10)
    _, alive = psutil.wait_procs(descendants, timeout=15)
    leftovers = []
    for proc in alive:
        leftovers.append(f"pid {proc.pid}: {' '.join(proc.cmdline())}")
        proc.kill()
    return leftovers


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
    env = {**_environment(data_dir, database_url), **(extra_env or {})}
    passphrase_file = root / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    _run(
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
    port = free_port()
    log_path = root / "server.log"
    command = [VAULT, "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    live = LiveVault(f"http://127.0.0.1:{port}", data_dir, env, process, log_path)
    try:
        _wait_ready(live, workers)
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
    return _stop(live)


@pytest.fixture
def live_vault_factory(
    tmp_path: Path, database_url: str | None
) -> Iterator[Callable[..., LiveVault]]:
    """Start ``vault serve`` against a fresh vault; several may run in one test."""
    started: list[LiveVault] = []

    def start(*, workers: int = 1) -> LiveVault:
        live = start_live_vault(tmp_path / f"server-{len(started)}", database_url, workers=workers)
        started.append(live)
        return live

    yield start
    leftovers = [entry for live in started for entry in _stop(live)]
    assert not leftovers, f"processes outlived vault serve: {leftovers}"


@pytest.fixture
def live_vault(live_vault_factory: Callable[..., LiveVault]) -> LiveVault:
    return live_vault_factory()
