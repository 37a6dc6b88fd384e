"""A burst of concurrent logins against a real ``vault serve`` process.

Each Argon2id derivation takes 64 MiB; without the per-process limit
(``VAULT_KDF_CONCURRENCY``) fifty simultaneous logins would need over 3 GiB at once. The test
samples the server's resident memory (with any child processes) every 50 ms while the burst
runs and checks that the growth stays within what the limit allows, and that every login is
answered (queued, not failed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import PASSPHRASE
from tests.support.cli import run_vault, vault_env
from tests.support.server import start_vault_serve, stop_server

pytestmark = pytest.mark.slow

KDF_CONCURRENCY = 4
LOGINS = 50
MIB = 1 << 20
ALLOWED_GROWTH = KDF_CONCURRENCY * 64 * MIB + 128 * MIB
SAMPLE_SECONDS = 0.05


@dataclass
class Server:
    url: str
    process: psutil.Process
    log: Path


def _rss(process: psutil.Process) -> int:
    """Resident memory of the process and all its descendants."""
    total = 0
    try:
        tree = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in tree:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


@pytest.fixture
def server(tmp_path: Path, database_url: str | None) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    env = vault_env(
        columns=None,
        VAULT_DATA_DIR=str(data_dir),
        VAULT_TOTP_REQUIRED_ROLES="",
        VAULT_KDF_CONCURRENCY=str(KDF_CONCURRENCY),
    )
    if database_url is not None:
        env["VAULT_DATABASE_URL"] = database_url
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    init = run_vault(
        "init", "--admin", "admin", "--passphrase-file", passphrase_file,
        cwd=tmp_path, env=env, in_process=True,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr

    served = start_vault_serve(data_dir, env=env, log_path=tmp_path / "server.log")
    try:
        yield Server(served.base_url, psutil.Process(served.process.pid), served.log_path)
    finally:
        stop_server(served)


def test_login_burst_queues_within_the_memory_bound(server: Server) -> None:
    body = {"username": "admin", "passphrase": PASSPHRASE}
    limits = httpx.Limits(max_connections=LOGINS + 5, max_keepalive_connections=LOGINS + 5)
    with httpx.Client(base_url=server.url, timeout=60, limits=limits) as client:
        # One login first, so that imports and first-use allocations are in the baseline.
        warm = client.post("/v1/auth/login", json=body)
        assert warm.status_code == 200, warm.text
        baseline = _rss(server.process)
        assert baseline > 0

        samples: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(_rss(server.process))
                stop.wait(SAMPLE_SECONDS)

        start = threading.Barrier(LOGINS)

        def login(_: int) -> int:
            start.wait()
            return client.post("/v1/auth/login", json=body).status_code

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        try:
            with ThreadPoolExecutor(max_workers=LOGINS) as pool:
                statuses = list(pool.map(login, range(LOGINS)))
        finally:
            stop.set()
            sampler.join(timeout=5)
        elapsed = time.monotonic() - started

    assert server.process.is_running()
    peak_growth = max(samples) - baseline
    assert len(samples) >= 10, (len(samples), elapsed)
    unexpected = sorted(s for s in statuses if s not in (200, 401))
    assert unexpected == [], (unexpected, server.log.read_text()[-4000:])
    assert statuses.count(200) == LOGINS
    assert peak_growth < ALLOWED_GROWTH, (
        f"peak RSS growth {peak_growth / MIB:.0f} MiB over {baseline / MIB:.0f} MiB "
        f"(limit {ALLOWED_GROWTH / MIB:.0f} MiB) in {elapsed:.1f} s"
    )
    print(
        f"\n{LOGINS} logins in {elapsed:.1f} s; baseline {baseline / MIB:.0f} MiB, "
        f"peak growth {peak_growth / MIB:.0f} MiB (limit {ALLOWED_GROWTH / MIB:.0f} MiB), "
        f"{len(samples)} samples"
    )
