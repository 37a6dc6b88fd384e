"""Malformed and ambiguous HTTP/1.1 requests against a live ``vault serve``: each is refused
with 400 and its connection closed, or served as what it unambiguously is; never a 500, never a
traceback in the log. The smuggling shapes (a length and a chunked body at once, two lengths)
are refused, so that a proxy in front and the vault cannot disagree about where a request ends.

Raw sockets, since no HTTP client library sends these on purpose."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import LiveVault, checked_live_vault
from tests.support.raw_http import connect, read_until_closed

pytestmark = pytest.mark.slow  # a live server

_END = b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
REFUSED = {
    "non-ascii-path": b"GET /v1/caf\xc3\xa9 HTTP/1.1\r\n" + _END,
    "non-ascii-query": b"GET /healthz?a=\xff HTTP/1.1\r\n" + _END,
    "nul-in-header": b"GET /healthz HTTP/1.1\r\nX-A: a\x00b\r\n" + _END,
    "length-and-chunked": (
        b"POST /v1/auth/login HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
        + _END
        + b"0\r\n\r\n"
    ),
    "two-lengths": (
        b"POST /v1/auth/login HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n"
        + _END
        + b"abcde"
    ),
    "folded-header": b"GET /healthz HTTP/1.1\r\nX-A: a\r\n b\r\n" + _END,
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "bare-line-feeds": b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n",
    "space-in-header-name": b"GET /healthz HTTP/1.1\r\nX A: b\r\n" + _END,
    "negative-length": b"POST /v1/auth/login HTTP/1.1\r\nContent-Length: -1\r\n" + _END,
    "huge-length": b"POST /v1/auth/login HTTP/1.1\r\nContent-Length: 9"
    + b"9" * 22
    + b"\r\n"
    + _END,
    "bad-chunk-size": (
        b"POST /v1/auth/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" + _END + b"zz\r\n"
    ),
    "control-in-method": b"G\x01T /healthz HTTP/1.1\r\n" + _END,
}
SERVED = {
    "non-ascii-header-value": (b"GET /healthz HTTP/1.1\r\nX-A: caf\xc3\xa9\r\n" + _END, 200),
    "absolute-form-target": (b"GET http://elsewhere/healthz HTTP/1.1\r\n" + _END, 200),
    "http-1.0": (b"GET /healthz HTTP/1.0\r\n\r\n", 200),
    # Percent-encoded bytes that are no UTF-8: a path like any other, behind authentication.
    "bad-percent-escape": (b"GET /v1/documents/%ff%fe HTTP/1.1\r\n" + _END, 401),
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveVault]:
    root = tmp_path_factory.mktemp("malformed") / "server"
    with checked_live_vault(root, users={}) as server:
        yield server
    assert '"status": 500' not in server.log()


def _answer(live: LiveVault, request: bytes) -> tuple[int, bool]:
    """The status the server answered ``request`` with, and whether it then closed."""
    with connect(live.port) as sock:
        sock.sendall(request)
        closed, received, _ = read_until_closed(sock, 5)
    return int(received.split(b" ", 2)[1]), closed


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_malformed_request_is_refused_and_its_connection_closed(
    live: LiveVault, name: str
) -> None:
    status, closed = _answer(live, REFUSED[name])
    assert status == 400
    assert closed


@pytest.mark.parametrize("name", sorted(SERVED))
def test_an_unusual_but_well_formed_request_is_served(live: LiveVault, name: str) -> None:
    request, expected = SERVED[name]
    status, _ = _answer(live, request)
    assert status == expected
