"""uvicorn's HTTP/1.1 protocol (httptools) with a deadline and a size limit for the request head.

uvicorn times out only an idle keep-alive connection between requests (``timeout_keep_alive``).
A client that connects and sends nothing, or sends part of a request line and headers and
stops, keeps its connection for ever, and since no request exists yet no ASGI middleware can
see it. ``HeadTimeoutProtocol`` gives every request head ``request_head_seconds`` to arrive
complete, counted from the connection (the first request) or from the first byte of the next one
(later requests; the keep-alive timeout covers the wait before it). A head that is not complete
by then gets its connection closed. It is a deadline, not an idle timer: a head trickled a byte
at a time is cut off just the same.

A head (request line and headers) larger than ``MAX_HEAD_BYTES`` is answered ``400`` and its
connection closed: counted exactly as the parser hands over the target and each header, and,
for a head still incomplete, as bytes received, so that no partial header grows without bound
inside the parser. Bodies are timed and sized by ``api.limits.RequestLimits``.

The parser is httptools (llhttp, in C), as ``uvicorn[standard]`` picks it: receiving a 1 GiB
upload takes 0.9 s here against 2.1 s with h11, the pure-Python parser this protocol was first
built on, and every small request's head costs less (docs/performance.md).

``vault serve`` runs every worker with this protocol (``http="api.protocol:HeadTimeoutProtocol"``);
each worker reads the deadline from the same ``VAULT_*`` environment as its application.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from typing import cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vault.settings import Settings

__all__ = ["MAX_HEAD_BYTES", "HeadTimeoutProtocol"]

log = logging.getLogger("api.protocol")

MAX_HEAD_BYTES = 16 * 1024
"""A request line and headers larger than this are refused: h11's default, which the vault
served with before, and several times what any client of the API sends."""


class _HeadTooLarge(Exception):
    """Raised inside a parser callback: the parser stops, and uvicorn answers 400."""


@functools.cache
def _head_seconds() -> float:
    # Read once per worker process, from the environment its application was built from.
    return float(Settings.from_environ(os.environ).request_head_seconds)


class HeadTimeoutProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that closes a connection whose request head is late, and refuses
    one whose head is too large."""

    head_seconds: float | None = None  # None: from the settings (tests set it directly)
    _head_timer: asyncio.TimerHandle | None = None
    _in_head = True  # between the first byte of a request (or the connection) and its headers
    _head_bytes = 0  # bytes received while in the head: at least the head's size so far
    _parsed_bytes = 0  # the target's and the headers' sizes, as the parser hands them over

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The base class narrows the parameter to a Transport, which a stream connection's is.
        super().connection_made(cast(asyncio.Transport, transport))
        self._start_head()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)  # at least the head's bytes so far
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            # Still no complete head after this many bytes: refused before the parser holds more.
            self.send_400_response("Request head too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the first byte of the next request on this connection
            self._start_head()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # with ": " and the line end
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()  # the head is complete: the body has its own limits
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _count(self, size: int) -> None:
        self._parsed_bytes += size
        if self._parsed_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLarge

    def _start_head(self) -> None:
        self._in_head = True
        self._head_bytes = self._parsed_bytes = 0
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            seconds = self.head_seconds if self.head_seconds is not None else _head_seconds()
            self._head_timer = self.loop.call_later(seconds, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            # No address: the access log's rules apply here too.
            log.info("request head not received in time; connection closed")
            self.transport.close()
