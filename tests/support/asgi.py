"""Requests sent straight to an ASGI application, below any HTTP client: for what a client
library will not do, such as declaring a length it never sends or stalling halfway through a
body, and to see exactly what the application asked for and sent back."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

__all__ = ["Message", "Receive", "answer", "call", "http_scope"]

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]


def http_scope(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    *,
    state: dict[str, Any] | None = None,
) -> Message:
    """The scope of one plain-HTTP request from 127.0.0.1, as uvicorn would build it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {} if state is None else state,
    }


def call(app: Any, scope: Message, receive: Receive) -> tuple[list[Message], float]:
    """Run ``app`` on one request: the messages it sent, and the seconds it took. Bounded at
    ten seconds: an application that waits for ever on a stalled client fails the test."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        with anyio.fail_after(10):
            await app(scope, receive, send)

    started = time.monotonic()
    anyio.run(run)
    return sent, time.monotonic() - started


def answer(sent: list[Message]) -> tuple[int, dict[bytes, bytes], bytes]:
    """The status, headers and whole body of the response in ``sent``."""
    start = sent[0]
    assert start["type"] == "http.response.start"
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start.get("headers", [])), body
