"""A server subprocess on a free port of 127.0.0.1: started, waited for until it answers, and
stopped with every process it started. The end-to-end tests, the CLI tests' shared server and
the benchmarks (``python -m benchmarks``, run from the repository root) all start theirs here.

Nothing here imports pytest: a server that does not come up raises ``ServerNotReady`` with the
end of its log, which a test reports as an error and a benchmark as a failed suite.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from tests.support.cli import VAULT

__all__ = [
    "READY_TIMEOUT",
    "Server",
    "ServerNotReady",
    "free_port",
    "start_server",
    "start_vault_serve",
    "stop_server",
]

READY_TIMEOUT = 60.0
# uvicorn's line, once per worker, when the application's lifespan startup has run.
STARTUP_LINE = "Application startup complete"


class ServerNotReady(RuntimeError):
    """The server exited, or did not answer in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a server subprocess to take)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A server subprocess, its address and the file its stdout and stderr go to."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log()[-chars:]

    def descendants(self) -> list[psutil.Process]:
        """Every process it started (uvicorn's workers, multiprocessing's helpers)."""
        return psutil.Process(self.process.pid).children(recursive=True)


def start_server(
    command: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    ready_path: str = "/readyz",
    startup_lines: int = 0,
    timeout: float = READY_TIMEOUT,
) -> Server:
    """Start ``command`` (which listens on ``port``) and return once ``GET ready_path``
    answers 200 and the log holds ``startup_lines`` of uvicorn's startup line (one per worker:
    a server with several workers answers before all of them are up). Stopped again, and
    ``ServerNotReady`` raised, if it exits first or is not ready within ``timeout`` seconds."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_ready(server, ready_path, startup_lines, timeout)
    except BaseException:
        stop_server(server)
        raise
    return server


def start_vault_serve(
    data_dir: Path, *, env: Mapping[str, str], log_path: Path, workers: int = 1
) -> Server:
    """``vault serve`` for the vault in ``data_dir``, with ``workers`` workers, on a free port
    of 127.0.0.1, ready when every worker has started."""
    port = free_port()
    command = [VAULT, "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    return start_server(command, port=port, env=env, log_path=log_path, startup_lines=workers)


def _wait_ready(server: Server, path: str, startup_lines: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerNotReady(
                f"the server exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            ready = httpx.get(server.base_url + path, timeout=2.0).status_code == 200
        except httpx.TransportError:
            ready = False
        if ready and server.log().count(STARTUP_LINE) >= startup_lines:
            return
        time.sleep(0.1)
    raise ServerNotReady(f"the server was not ready within {timeout} s:\n{server.log_tail()}")


def stop_server(server: Server) -> list[str]:
    """SIGTERM (uvicorn stops its workers and then itself), SIGKILL after 30 s; then every
    process it started that is still alive is killed, all by pid and nothing else. Returns a
    description of each of those (a server should leave none)."""
    try:
        descendants = server.descendants()
    except psutil.NoSuchProcess:
        descendants = []
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)
    _, alive = psutil.wait_procs(descendants, timeout=15)
    leftovers = []
    for proc in alive:
        try:
            leftovers.append(f"pid {proc.pid}: {' '.join(proc.cmdline())}")
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    return leftovers
