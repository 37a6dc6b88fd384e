"""uvicorn's HTTP/1.1 protocol with a deadline for the request head.

uvicorn (h11) times out only an idle keep-alive connection between requests
(``timeout_keep_alive``). A client that connects and sends nothing, or sends part of a request
line and headers and stops, keeps its connection for ever, and since no request exists yet no
ASGI middleware can see it. ``HeadTimeoutProtocol`` gives every request head
``request_head_seconds`` to arrive complete, counted from the connection (the first request) or
from the first byte of the next one (later requests; the keep-alive timeout covers the wait
before it). A head that is not complete by then gets its connection closed. It is a deadline,
not an idle timer: a head trickled a byte at a time is cut off just the same.

The size of a head is bounded by h11 (``h11_max_incomplete_event_size``, 16 KiB by default,
answered ``400``). Bodies are timed by ``api.limits.RequestLimits``.

``vault serve`` runs every worker with this protocol (``http="api.protocol:HeadTimeoutProtocol"``);
each worker reads the deadline from the same ``VAULT_*`` environment as its application.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from typing import cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from vault.settings import Settings

__all__ = ["HeadTimeoutProtocol"]

log = logging.getLogger("api.protocol")


@functools.cache
def _head_seconds() -> float:
    # Read once per worker process, from the environment its application was built from.
    return float(Settings.from_environ(os.environ).request_head_seconds)


class HeadTimeoutProtocol(H11Protocol):
    """``H11Protocol`` that closes a connection whose request head is late."""

    head_seconds: float | None = None  # None: from the settings (tests set it directly)
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # H11Protocol narrows the parameter to a Transport, which a stream connection's is.
        super().connection_made(cast(asyncio.Transport, transport))
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()  # the head is complete: the body has its own limits
        elif self.conn.trailing_data[0]:
            self._arm_head_timer()  # part of the next head arrived; its deadline starts now

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

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
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            # No address: the access log's rules apply here too.
            log.info("request head not received in time; connection closed")
            self.transport.close()
