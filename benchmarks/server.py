"""A ``vault serve`` subprocess on 127.0.0.1 for the suites that measure through HTTP
(``metadata``, ``login``): started against a vault the suite made in-process, stopped (with
anything it started) when the block ends; and the summary of a run of timed requests.

One worker (``--workers 1``): uvicorn then serves in the process it was started as, so the
``pid`` here is the process that answers the requests and the one whose memory is sampled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import percentile
from tests.support.cli import vault_env
from tests.support.server import start_vault_serve, stop_server

__all__ = ["LiveServer", "expect", "latency_details", "serve"]


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


@contextmanager
def serve(data_dir: Path, *, environ: Mapping[str, str] | None = None) -> Iterator[LiveServer]:
    """Serve the vault in ``data_dir`` (already initialised, SQLite) until the block ends, then
    stop it and anything it started (``tests.support.server``). ``environ`` adds ``VAULT_*``
    settings; two-factor login is off so that a passphrase alone logs in."""
    env = vault_env(columns=None, VAULT_DATA_DIR=str(data_dir), VAULT_TOTP_REQUIRED_ROLES="")
    env |= dict(environ or {})
    server = start_vault_serve(data_dir, env=env, log_path=data_dir.parent / "server.log")
    try:
        yield LiveServer(server.base_url, server.process.pid, server.log_path)
    finally:
        stop_server(server)
