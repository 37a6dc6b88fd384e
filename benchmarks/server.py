"""A ``vault serve`` subprocess on 127.0.0.1 for the suites that measure through HTTP
(``metadata``, ``login``): started against a vault the suite made in-process, stopped (with
anything it started) when the block ends; and the summary of a run of timed requests.

One worker (``--workers 1``): uvicorn then serves in the process it was started as, so the
``pid`` here is the process that answers the requests and the one whose memory is sampled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.common import free_port, percentile

__all__ = ["LiveServer", "expect", "latency_details", "serve"]

VAULT = str(Path(sys.executable).with_name("vault"))
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class LiveServer:
    """A served vault: its address, its process id and its log file."""

    base_url: str
    pid: int
    log_path: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client for this server. No proxy from the environment: everything is local."""
        return httpx.Client(base_url=self.base_url, timeout=120.0, trust_env=False, **kwargs)

    def login(self, username: str, passphrase: str) -> dict[str, str]:
        """Log in (``POST /v1/auth/login``) and return the bearer header."""
        with self.client() as client:
            response = client.post(
                "/v1/auth/login", json={"username": username, "passphrase": passphrase}
            )
        expect(response, 200)
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def expect(response: httpx.Response, status: int) -> None:
    """``RuntimeError`` with the answer's start unless it has ``status``."""
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:500]}"
        )


def latency_details(samples: list[float], wall: float) -> dict[str, float]:
    """Requests per second over ``wall`` seconds, and the p50, p99 and worst latency (ms) of
    ``samples`` (seconds per request)."""
    return {
        "requests": len(samples),
        "requests_per_s": round(len(samples) / wall, 1),
        "p50_ms": round(percentile(samples, 0.5) * 1000, 2),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
    }


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn stops gracefully), SIGKILL after 30 s; then any process it started
    that outlived it — all by pid, nothing else is touched."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    _, alive = psutil.wait_procs(descendants, timeout=15)
    for proc in alive:
        proc.kill()


@contextmanager
def serve(data_dir: Path, *, environ: Mapping[str, str] | None = None) -> Iterator[LiveServer]:
    """Serve the vault in ``data_dir`` (already initialised, SQLite) until the block ends.
    ``environ`` adds ``VAULT_*`` settings; two-factor login is off so that a passphrase alone
    logs in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env |= {"VAULT_DATA_DIR": str(data_dir), "VAULT_TOTP_REQUIRED_ROLES": ""}
    env |= dict(environ or {})
    port = free_port()
    log_path = data_dir.parent / "server.log"
    command = [VAULT, "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    live = LiveServer(f"http://127.0.0.1:{port}", process.pid, log_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vault serve exited early:\n{live.log_tail()}")
            try:
                if httpx.get(f"{live.base_url}/readyz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"vault serve not ready in {READY_TIMEOUT} s:\n{live.log_tail()}"
                )
            time.sleep(0.1)
        yield live
    finally:
        _stop(process)
