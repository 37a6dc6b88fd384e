"""The body cap on a real server: a login that claims 200 MiB once took ``vault serve`` from
150 MB to 770 MB; now it is answered 413 at once, before its body is read, and a chunked body
is cut off as it passes the cap. Raw sockets, so that nothing in between reads or checks the
body for us."""

from __future__ import annotations

import socket
import time

import psutil
import pytest

from tests.e2e.conftest import LiveVault

pytestmark = pytest.mark.slow

DECLARED = 200 << 20


def _status(sock: socket.socket) -> int:
    """The status code of the answer on ``sock`` (read until the status line is complete)."""
    data = b""
    while b"\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
    return int(data.split(b" ", 2)[1])


def _rss(live: LiveVault) -> int:
    """The resident memory of the server and its workers."""
    server = psutil.Process(live.process.pid)
    return sum(p.memory_info().rss for p in [server, *live.workers()])


def test_a_declared_200_mib_login_is_refused_before_it_is_sent(live_vault: LiveVault) -> None:
    before = _rss(live_vault)
    with socket.create_connection(("127.0.0.1", live_vault.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {DECLARED}\r\n\r\n".encode()
            + b'{"username": "'
        )
        started = time.monotonic()
        assert _status(sock) == 413
        # Answered at once: the server did not wait for the other 200 MiB.
        assert time.monotonic() - started < 5
    assert _rss(live_vault) - before < 20 << 20


def test_a_chunked_body_over_the_cap_is_cut_off(live_vault: LiveVault) -> None:
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", live_vault.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            for _ in range(64):  # 4 MiB, four times the default cap
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what is being tested
        assert _status(sock) == 413
    # And it goes on serving.
    with live_vault.client() as client:
        assert client.get("/healthz").status_code == 200
