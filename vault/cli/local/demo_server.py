"""The demo's API server, in this process: uvicorn in a daemon thread on a socket bound first,
its logs routed to a file, and the signals that end the demo turned into a clean stop.

No child process can be orphaned: on Ctrl-C, SIGTERM, SIGHUP or any error the server is
stopped by the thread that started it. The web layer (api, uvicorn) is imported inside the
functions that use it, as ``vault serve`` does: ``vault --help`` and every other command load
without it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from vault.errors import StorageError
from vault.settings import Settings

if TYPE_CHECKING:
    from vault.instance import Vault

__all__ = ["Server", "listen", "server_logs", "signals_interrupt", "uninterrupted"]

_HOST = "127.0.0.1"
_READY_SECONDS = 30.0
_STOP_SECONDS = 10.0


def listen(port: int | None) -> socket.socket:
    """A socket bound before the server starts, so a free port cannot be taken in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((_HOST, port or 0))
    except OSError as exc:
        sock.close()
        where = f"{_HOST}:{port}" if port else f"a free port on {_HOST}"
        raise StorageError(f"cannot listen on {where}: {exc.strerror}") from None
    return sock


class Server:
    """uvicorn in a daemon thread of this process, stopped by ``stop`` (signals stay with the
    main thread: uvicorn installs no handlers outside it)."""

    def __init__(self, settings: Settings, vault: Vault, sock: socket.socket) -> None:
        import uvicorn

        from api.app import create_app

        config = uvicorn.Config(
            create_app(settings, vault=vault),
            log_config=None,  # the demo routes the loggers itself (see server_logs)
            access_log=False,
            server_header=False,
            proxy_headers=False,
            lifespan="on",
            timeout_graceful_shutdown=3,
            # The same head deadline and size limit as ``vault serve`` (api.protocol): the demo
            # listens on loopback only, but a server of this project never runs without them.
            http="api.protocol:HeadTimeoutProtocol",
        )
        self._server = uvicorn.Server(config)
        port = sock.getsockname()[1]
        self.url = f"http://{_HOST}:{port}"
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="vault-demo-server",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + _READY_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise StorageError("the demo server did not start (run with --debug for its log)")
            time.sleep(0.02)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with uninterrupted():
            self._server.should_exit = True
            self._thread.join(_STOP_SECONDS)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(_STOP_SECONDS)


@contextlib.contextmanager
def server_logs(path: Path, *, debug: bool) -> Iterator[None]:
    """The server's JSON logs (access lines, uvicorn, services) into ``path``, not the
    terminal; with ``--debug`` they also reach stderr as usual."""
    from api.middleware import JsonFormatter

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    saved = []
    for name in ("uvicorn", "api", "vault"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.level, logger.propagate))
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG if debug else logging.INFO)
        logger.propagate = debug
    try:
        yield
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
        handler.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) end the demo the way Ctrl-C does, so that the
    server is stopped and the directory deleted rather than left behind. SIGINT is handled
    explicitly too: a process started in the background of a shell without job control
    inherits it ignored, and the demo promises to stop on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _interrupt) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Ignore Ctrl-C while cleaning up: a second one must not leave the vault on disk."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
