"""Raw sockets for the tests that send what no HTTP client library sends on purpose: half a
request, a head too large, a malformed one."""

from __future__ import annotations

import socket
import time

__all__ = ["connect", "read_until_closed"]


def connect(port: int) -> socket.socket:
    """A connection to 127.0.0.1:``port`` with a 10 s timeout."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def read_until_closed(sock: socket.socket, seconds: float) -> tuple[bool, bytes, float]:
    """Read until the server closes (True) or ``seconds`` pass (False); what it sent, and how
    long it took."""
    started = time.monotonic()
    received = b""
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, received, time.monotonic() - started
        if not data:
            return True, received, time.monotonic() - started
        received += data
    return False, received, time.monotonic() - started
