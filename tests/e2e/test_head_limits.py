"""The request head's size limit of a live ``vault serve`` (``api.protocol.MAX_HEAD_BYTES``):
a head larger than the limit is answered 400 and its connection closed, whether it arrives
whole, as one header growing without end, or as many headers; a head under the limit is served,
also when its body arrives in the same packets; and the connection is served again after a
request whose head filled most of the limit (the count starts again for each request).

Raw sockets, since no HTTP client library sends such heads on purpose."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from api.protocol import MAX_HEAD_BYTES
from tests.e2e.conftest import LiveVault, checked_live_vault
from tests.support.raw_http import connect, read_until_closed

pytestmark = pytest.mark.slow  # a live server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveVault]:
    with checked_live_vault(tmp_path_factory.mktemp("head-limits") / "server", users={}) as server:
        yield server


def _exchange(live: LiveVault, *pieces: bytes, seconds: float = 10) -> tuple[bytes, bool]:
    """Send ``pieces`` (stopping if the server closes), then read until it closes or
    ``seconds`` pass: what it answered, and whether it closed."""
    with connect(live.port) as sock:
        try:
            for piece in pieces:
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed, received, _ = read_until_closed(sock, seconds)
    return received, closed


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_head_over_the_limit_is_refused(live: LiveVault) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * MAX_HEAD_BYTES
    answer, closed = _exchange(live, head + b"\r\n\r\n")
    assert _status(answer) == 400
    assert closed


def test_a_header_that_never_ends_is_refused_before_the_deadline(live: LiveVault) -> None:
    """Sent in pieces with no line end: the parser would hold it all, waiting for the end."""
    start = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: "
    pieces = [start] + [b"b" * 4096] * 64  # 256 KiB, far past the limit
    started = time.monotonic()
    answer, closed = _exchange(live, *pieces)
    assert closed
    assert answer == b"" or _status(answer) == 400
    assert time.monotonic() - started < 5  # the size, not the head deadline (20 s by default)


def test_many_small_headers_over_the_limit_are_refused(live: LiveVault) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (n, b"c" * 100) for n in range(200))  # ~22 KiB
    answer, closed = _exchange(live, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", headers)
    assert _status(answer) == 400
    assert closed


def test_a_head_under_the_limit_is_served_with_its_body_in_the_same_packet(
    live: LiveVault,
) -> None:
    body = b"x" * (200 * 1024)  # far more than the limit, after the head: not the head's
    head = (
        b"POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"X-Padding: " + b"p" * (MAX_HEAD_BYTES // 2) + b"\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    answer, _ = _exchange(live, head + body)
    assert _status(answer) == 422  # the body is no login request: the application answered


def test_the_limit_counts_each_request_of_a_connection_on_its_own(live: LiveVault) -> None:
    one = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
        + b"q" * (MAX_HEAD_BYTES * 3 // 4)
        + b"\r\n\r\n"
    )
    last = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    answer, closed = _exchange(live, one, one, last)
    assert answer.count(b"HTTP/1.1 200") == 3, answer[:300]
    assert closed
