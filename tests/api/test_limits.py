"""Clients that stall, trickle or go away, at the ASGI level (issue 13, item 9): a body that
stops or crawls gets a 408 in bounded time and leaves nothing stored, uploads are bounded per
account and in total on threads of their own, and a client that disconnects is logged as such.
``tests/e2e/test_stalled_clients.py`` does the same against a live ``vault serve``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from uuid import uuid4

import anyio
import pytest
from starlette.requests import Request

from api import create_app
from api.limits import CLIENT_CLOSED, RequestLimits, UploadGate
from tests.api.conftest import ApiWorld
from tests.support.asgi import Message, Receive, answer, call, http_scope
from vault.errors import RateLimited, Unavailable
from vault.settings import Settings

PROBLEM = "application/problem+json"


def _scope(method: str = "POST", path: str = "/upload", length: int | None = 1000) -> Message:
    headers = [(b"content-type", b"application/octet-stream")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return http_scope(method, path, headers, state={"request_id": "0123456789abcdef"})


def _limits(app: Any, *, idle: float = 0.3, grace: float = 0.3, rate: float = 100) -> Any:
    # Fractions of a second keep the tests fast; operators set whole seconds.
    settings = replace(
        Settings(), request_idle_seconds=idle, body_grace_seconds=grace,
        body_min_bytes_per_second=rate,
    )  # fmt: skip
    return RequestLimits(app, settings=settings)


def _stalling(pieces: list[bytes], *, every: float = 0.0) -> Receive:
    """A client that sends ``pieces`` (one each ``every`` seconds), then nothing, for ever."""
    queue = list(pieces)

    async def receive() -> Message:
        if queue:
            await anyio.sleep(every)
            return {"type": "http.request", "body": queue.pop(0), "more_body": True}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    return receive


async def _reader(scope: Message, receive: Receive, send: Callable[[Message], Any]) -> None:
    """An application that reads the whole body, as Starlette does, then answers 201."""
    async for _ in Request(scope, receive).stream():
        pass
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"stored"})


# -- body timeouts ----------------------------------------------------------------------------


def test_body_that_stops_gets_408_in_bounded_time() -> None:
    sent, took = call(_limits(_reader, idle=0.3), _scope(), _stalling([b"x" * 100]))
    status, headers, body = answer(sent)
    assert status == 408
    assert headers[b"content-type"] == PROBLEM.encode()
    assert headers[b"connection"] == b"close"
    problem = json.loads(body)
    assert problem["type"] == "urn:source-vault:problem:request-timeout"
    assert problem["status"] == 408
    assert took < 2.0


def test_body_that_trickles_below_the_minimum_rate_gets_408() -> None:
    # One byte every 50 ms is 20 bytes a second against a minimum of 100: each byte earns
    # 10 ms of waiting and costs 50, so the 0.3 s grace runs out after about 0.4 s.
    receive = _stalling([b"x"] * 1000, every=0.05)
    sent, took = call(_limits(_reader, idle=5, grace=0.3, rate=100), _scope(), receive)
    assert answer(sent)[0] == 408
    assert 0.3 <= took < 2.0


def test_only_time_waiting_for_the_client_counts() -> None:
    # The client is fast; the application is slow between reads (writing, encrypting). That
    # must never count against the client.
    pieces = [b"y" * 10] * 5

    async def receive() -> Message:
        more = len(pieces) > 1
        return {"type": "http.request", "body": pieces.pop(), "more_body": more}

    async def slow_reader(scope: Message, receive: Receive, send: Callable[..., Any]) -> None:
        async for _ in Request(scope, receive).stream():
            await anyio.sleep(0.15)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent, _ = call(_limits(slow_reader, idle=0.1, grace=0.1, rate=1), _scope(), receive)
    status, headers, _ = answer(sent)
    assert status == 201
    assert b"connection" not in headers


def test_a_cancellation_from_elsewhere_is_not_taken_for_a_timeout() -> None:
    # The body's timer cancels only its own waits: the application's own time limit (here
    # 0.2 s, well inside the 5 s allowance) still ends the wait as the application expects.
    async def impatient(scope: Message, receive: Receive, send: Callable[..., Any]) -> None:
        with anyio.move_on_after(0.2) as waited:
            await receive()
            await receive()
        assert waited.cancelled_caught
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent, took = call(_limits(impatient, idle=5, grace=5), _scope(), _stalling([b"a"]))
    assert answer(sent)[0] == 200
    assert took < 2


def test_waiting_after_the_body_is_not_timed() -> None:
    # A streaming response listens on receive for the client going away, past any body limit.
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def listener(scope: Message, receive: Receive, send: Callable[..., Any]) -> None:
        await receive()  # the (empty) body
        with anyio.move_on_after(0.5):
            await receive()  # what a disconnect listener does; the client is still there
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def idle_receive() -> Message:
        if not hasattr(idle_receive, "seen"):
            idle_receive.seen = True  # type: ignore[attr-defined]
            return await receive()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    sent, _ = call(_limits(listener, idle=0.1, grace=0.1), _scope("GET", length=None), idle_receive)
    assert answer(sent)[0] == 200


def test_answer_before_the_body_is_read_closes_the_connection() -> None:
    async def refuser(scope: Message, receive: Receive, send: Callable[..., Any]) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent, _ = call(_limits(refuser), _scope(), _stalling([]))
    assert answer(sent)[1][b"connection"] == b"close"
    # Without a body there is nothing left unread: the connection stays reusable.
    sent, _ = call(_limits(refuser), _scope("GET", length=None), _stalling([]))
    assert b"connection" not in answer(sent)[1]


def _multipart_upload(api: ApiWorld, token: str, boundary: str = "b0undary") -> tuple[Any, bytes]:
    scope = _scope("POST", "/v1/documents", length=10**6)
    scope["headers"] = [
        (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
        (b"content-length", b"1000000"),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    scope["state"] = {}
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="case"\r\n\r\n'
        f'{api.world.case_id}\r\n--{boundary}\r\nContent-Disposition: form-data; name="title"'
        f'\r\n\r\nt\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    return scope, head


# -- clients that go away ---------------------------------------------------------------------


def test_client_disconnect_is_an_info_line_and_499(caplog: pytest.LogCaptureFixture) -> None:
    messages = [
        {"type": "http.request", "body": b"half", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    caplog.set_level(logging.INFO)
    sent, _ = call(_limits(_reader), _scope(), receive)
    # Recorded for the access log (the server drops it: nobody is there to read it).
    assert sent == [{"type": "http.response.start", "status": CLIENT_CLOSED}]
    lines = [r for r in caplog.records if r.name == "api.limits"]
    assert [r.getMessage() for r in lines] == ["client disconnected"]
    assert lines[0].levelno == logging.INFO
    assert lines[0].fields["request_id"] == "0123456789abcdef"  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_client_disconnect_is_not_a_500_through_the_app(
    api: ApiWorld, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(api.world.vault.settings, vault=api.world.vault)
    scope, head = _multipart_upload(api, api.login("jules"))
    messages = [
        {"type": "http.request", "body": head + b"z" * 5000, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    caplog.set_level(logging.INFO)
    sent, _ = call(app, scope, receive)
    assert sent[0]["status"] == CLIENT_CLOSED
    access = [r for r in caplog.records if r.name == "api.access"]
    assert access[-1].fields["status"] == CLIENT_CLOSED  # type: ignore[attr-defined]
    assert access[-1].fields["route"] == "/v1/documents"  # type: ignore[attr-defined]
    assert "client disconnected" in [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert api.world.vault.blobs.list_partial() == []


# -- uploads through the real route -----------------------------------------------------------


def test_stalled_upload_is_408_and_stores_nothing(api: ApiWorld) -> None:
    vault = api.world.vault
    settings = replace(vault.settings, request_idle_seconds=0.5, body_grace_seconds=0.5)
    app = create_app(settings, vault=vault)
    scope, head = _multipart_upload(api, api.login("jules"))
    before = set(vault.blobs.blob_ids())
    # Enough for the store to have begun writing the blob (a few segments), then silence.
    sent, took = call(app, scope, _stalling([head + b"q" * 200_000]))
    status, headers, body = answer(sent)
    assert status == 408, body
    assert headers[b"connection"] == b"close"
    assert took < 5
    assert vault.blobs.list_partial() == []
    assert set(vault.blobs.blob_ids()) == before
    assert app.state.upload_gate.active == 0


def test_uploads_are_bounded_per_account_and_in_total(api: ApiWorld) -> None:
    vault = api.world.vault
    settings = replace(vault.settings, max_concurrent_uploads=3, max_concurrent_uploads_per_user=2)
    app = create_app(settings, vault=vault)
    gate: UploadGate = app.state.upload_gate
    jules, erin = api.world.journalist.user_id, api.world.editor.user_id
    with gate.admit(jules), gate.admit(jules):
        scope, head = _multipart_upload(api, api.login("jules"))
        status, headers, body = answer(call(app, scope, _stalling([head]))[0])
        assert status == 429, body
        assert json.loads(body)["type"] == "urn:source-vault:problem:rate-limited"
        assert "uploads in progress" in json.loads(body)["detail"]
        assert int(headers[b"retry-after"]) >= 1
        assert headers[b"connection"] == b"close"  # the body was never read
        with gate.admit(erin):
            scope, head = _multipart_upload(api, api.login("erin"))
            status, headers, body = answer(call(app, scope, _stalling([head]))[0])
            assert status == 503, body
            assert json.loads(body)["type"] == "urn:source-vault:problem:unavailable"
            assert int(headers[b"retry-after"]) >= 1
    assert gate.active == 0


def test_upload_gate_counts_and_releases() -> None:
    gate = UploadGate(total=2, per_user=1)
    one, two, three = uuid4(), uuid4(), uuid4()
    with gate.admit(one):
        with pytest.raises(RateLimited), gate.admit(one):
            pass
        with gate.admit(two), pytest.raises(Unavailable), gate.admit(three):
            pass
        assert gate.active == 1
    assert gate.active == 0
    with gate.admit(one):
        assert gate.active == 1
