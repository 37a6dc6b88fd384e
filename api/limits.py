"""Time limits on request bodies, bounds on concurrent uploads, and clients that go away.

A client that sends half a body and stops, or trickles it a byte a second, costs the server a
connection and, for an upload, a worker thread for as long as it likes. Measured on a live
server: 42 authenticated uploads trickling one byte a second held the whole thread pool, and
logins, ``/readyz``, downloads and uploads timed out for everyone until they closed. Three
defences, each where the problem arises:

- ``RequestLimits`` (pure ASGI, so bodies still stream) times every wait for the next piece of
  a body: no single wait may exceed ``idle_seconds``, and after ``grace_seconds`` of waiting the
  client must have sent ``min_bytes_per_second`` for each second the server spent waiting for it.
  Only time spent waiting for the client counts, never time the server spends on what it
  received. A client that falls behind gets ``408`` (a problem document) if no response has
  started, and its connection is closed; the application sees the client as gone, so an upload
  abandons its partial blob as it does for any failed upload.
- ``UploadGate`` bounds uploads per process, in total and per account (``503`` and ``429``, both
  with ``Retry-After``), and gives them worker threads of their own, so that uploads, however
  slow, can never take the threads that logins, reads and ``/readyz`` need.
- The request head (line and headers) has a deadline of its own in ``api.protocol``: before it
  is complete no application code runs, so no middleware can see it.

A client that disconnects is logged as what it is: one ``client disconnected`` info line with
the request id and route, and status 499 in the access log, never an error with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated
from uuid import UUID

import anyio
from fastapi import Depends, Request
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ProblemType, problem_response
from vault.errors import RateLimited, Unavailable
from vault.settings import Settings

__all__ = ["CLIENT_CLOSED", "RequestLimits", "UploadGate", "Uploads"]

log = logging.getLogger("api.limits")

# nginx's code for "the client closed the connection before the answer": the access log's status
# for a request nobody was left to answer.
CLIENT_CLOSED = 499
RETRY_AFTER_SECONDS = 5
_DISCONNECT: Message = {"type": "http.disconnect"}
_CLOSE = (b"connection", b"close")


def _declares_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        name = name.lower()
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class RequestLimits:
    """Answer ``408`` to a client that sends its body too slowly; log clients that go away."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.idle_seconds = float(settings.request_idle_seconds)
        self.grace_seconds = float(settings.body_grace_seconds)
        self.min_rate = float(settings.body_min_bytes_per_second)
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(self, scope, receive, send)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            # What the application makes of a client that is gone (ClientDisconnect, or an
            # error from the upload it abandoned) has nobody to be told to.
            if not (exchange.disconnected or exchange.timed_out):
                raise
            if not isinstance(exc, ClientDisconnect):
                log.info("abandoned request ended", extra={"error": type(exc).__name__})
        finally:
            exchange.stop_timing()
        await exchange.finish()


class _Exchange:
    """The state of one request as seen by ``RequestLimits``."""

    def __init__(self, limits: RequestLimits, scope: Scope, receive: Receive, send: Send) -> None:
        self._limits = limits
        self._scope = scope
        self._receive = receive
        self._send = send
        self.body_done = not _declares_body(scope)
        self.received = 0
        self.waited = 0.0
        self.response_started = False
        self.response_done = False
        self.disconnected = False
        self.timed_out = False
        self._watchdog: _Watchdog | None = None

    def _allowance(self) -> float:
        limits = self._limits
        earned = limits.grace_seconds + self.received / limits.min_rate
        return min(limits.idle_seconds, earned - self.waited)

    async def receive(self) -> Message:
        if self.timed_out or self.disconnected:
            return _DISCONNECT
        if self.body_done or self.response_done:
            # Past the body nothing is timed: a streaming response listens here for the client
            # going away, for as long as the response lasts.
            message = await self._receive()
        else:
            timed = await self._timed_receive()
            if timed is None:
                await self._time_out()
                return _DISCONNECT
            message = timed
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_done = True
                self.stop_timing()
        elif message["type"] == "http.disconnect" and not self.response_done:
            self.disconnected = True
        return message

    async def _timed_receive(self) -> Message | None:
        """The next message, or ``None`` if the client let its allowance run out."""
        allowance = self._allowance()
        if allowance <= 0:
            return None
        started = self._limits.clock()
        message: Message | None = None
        if self._watchdog is None:
            try:
                self._watchdog = _Watchdog(asyncio.get_running_loop())
            except RuntimeError:  # not on asyncio: a cancel scope per wait, slower but alike
                with anyio.move_on_after(allowance):
                    message = await self._receive()
                self.waited += self._limits.clock() - started
                return message
        message = await self._watchdog.wait(self._receive, allowance)
        self.waited += self._limits.clock() - started
        return message

    def stop_timing(self) -> None:
        if self._watchdog is not None:
            self._watchdog.close()

    async def send(self, message: Message) -> None:
        if self.timed_out:
            return  # the 408 has been sent; the application's answer comes too late
        if message["type"] == "http.response.start":
            self.response_started = True
            if not self.body_done:
                # Answered before the body was read (refused, or cut off): the rest of it will
                # not be read, so the connection cannot carry another request.
                headers = list(message.get("headers", []))
                if _CLOSE not in headers:
                    headers.append(_CLOSE)
                message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.response_done = True
        await self._send(message)

    async def _time_out(self) -> None:
        self.timed_out = True
        log.info("request body too slow", extra={"fields": self._where()})
        if self.response_started:
            return  # too late for an answer: ending the response closes the connection
        self.response_started = True
        limits = self._limits
        response = problem_response(
            ProblemType.REQUEST_TIMEOUT,
            f"the request body arrived too slowly: at most {limits.idle_seconds:g} s between "
            f"pieces, and at least {limits.min_rate:g} bytes a second after the first "
            f"{limits.grace_seconds:g} s",
            headers={"Connection": "close"},
        )
        await response(self._scope, self._receive, self._send)
        self.response_done = True

    async def finish(self) -> None:
        if not self.disconnected:
            return
        log.info("client disconnected", extra={"fields": self._where()})
        if not self.response_started:
            # Nobody is left to read it (the server drops it), but the access log records the
            # request as the client's doing rather than as a server error.
            self.response_started = True
            await self._send({"type": "http.response.start", "status": CLIENT_CLOSED})

    def _where(self) -> dict[str, object]:
        route = self._scope.get("route")
        return {
            "request_id": self._scope.get("state", {}).get("request_id"),
            "route": getattr(route, "path", "unmatched"),
            "received_bytes": self.received,
        }


class _Watchdog:
    """Time-limited waits for one request's body, with one timer for the request instead of a
    cancel scope per wait.

    Each ``receive`` of a body is timed, and a body arrives in pieces of 64-256 KiB: a cancel
    scope around each wait cost 20-35 us, a quarter to half a second per GiB uploaded (measured;
    an upload of 1 GiB takes about 1.5 s). Here a wait only records its task and deadline. The
    timer is armed at the first deadline and, since deadlines never move earlier (an allowance
    shrinks only by the time spent waiting), re-armed only when it fires before the current wait
    has run out. Expiry cancels the waiting task as ``asyncio.timeout`` does, and the wait turns
    that cancellation, and no other, into a timeout.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._deadline = 0.0
        self._fired = False

    async def wait(self, receive: Receive, allowance: float) -> Message | None:
        """``receive()``, or ``None`` if it has not returned within ``allowance`` seconds."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a body can only be received in a task")
        self._task, self._fired = task, False
        self._deadline = self._loop.time() + allowance
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadline, self._expire)
        cancelling = task.cancelling()
        try:
            return await receive()
        except asyncio.CancelledError:
            # Ours, and only ours: a cancellation from elsewhere (shutdown) goes on.
            if self._fired and task.uncancel() <= cancelling:
                return None
            raise
        finally:
            self._task = None

    def _expire(self) -> None:
        self._timer = None
        if self._task is None:
            return  # no wait in progress: the next one arms the timer again
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._expire)
            return
        self._fired = True
        self._task.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class UploadGate:
    """At most ``total`` uploads at once in this process and ``per_user`` for one account, on
    worker threads of their own.

    An upload holds a thread for as long as its body takes to arrive. Taken from the default
    pool, slow uploads would starve every other request that needs one (logins, reads,
    ``/readyz``); here they can only wait for each other. Admission is decided at once, never
    queued: a queued upload would hold its connection anyway.
    """

    def __init__(self, *, total: int, per_user: int) -> None:
        self.total = total
        self.per_user = per_user
        self._by_user: Counter[UUID] = Counter()
        self._active = 0
        self._threads: anyio.CapacityLimiter | None = None
        self._receiving: set[anyio.CancelScope] = set()
        self._closing = False
        # Upload threads still running: counted by the threads themselves, since the request
        # task that started one may be cancelled (uvicorn's grace period) while it runs on.
        self._working = 0
        self._working_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadGate:
        return cls(
            total=settings.max_concurrent_uploads,
            per_user=settings.max_concurrent_uploads_per_user,
        )

    @property
    def threads(self) -> anyio.CapacityLimiter:
        """The uploads' own thread limiter (made on first use, inside the event loop)."""
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(self.total)
        return self._threads

    @property
    def active(self) -> int:
        return self._active

    @contextmanager
    def admit(self, user_id: UUID) -> Iterator[None]:
        """Hold an upload slot for ``user_id``: ``RateLimited`` (429) when the account has
        ``per_user`` uploads in progress, ``Unavailable`` (503) when the server has ``total``.
        Only called from the event loop, so the counts need no lock."""
        if self._by_user[user_id] >= self.per_user:
            raise RateLimited(
                RETRY_AFTER_SECONDS,
                message=f"you have {self.per_user} uploads in progress, the most one account "
                "may have at once; send this one when one of them has finished",
            )
        if self._active >= self.total:
            raise Unavailable(
                "the server is receiving as many uploads as it can; try again shortly",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self._by_user[user_id] += 1
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            self._by_user[user_id] -= 1
            if not self._by_user[user_id]:
                del self._by_user[user_id]

    @contextmanager
    def receiving(self) -> Iterator[None]:
        """Around an upload's wait for more of its body (in the event loop): ``drain`` ends the
        wait with ``Unavailable``, as does any wait that starts after it."""
        if self._closing:
            raise Unavailable(_SHUTTING_DOWN, retry_after=RETRY_AFTER_SECONDS)
        scope = anyio.CancelScope()
        self._receiving.add(scope)
        try:
            with scope:
                yield
        finally:
            self._receiving.discard(scope)
        if scope.cancelled_caught:
            raise Unavailable(_SHUTTING_DOWN, retry_after=RETRY_AFTER_SECONDS)

    @contextmanager
    def working(self) -> Iterator[None]:
        """Around an upload's whole thread: ``drain`` waits until none is inside."""
        with self._working_lock:
            self._working += 1
        try:
            yield
        finally:
            with self._working_lock:
                self._working -= 1

    async def drain(self, *, timeout: float) -> int:
        """Interrupt every upload still receiving and wait, at most ``timeout`` seconds, until
        their threads have cleaned up; returns how many were still running then."""
        self._closing = True
        deadline = anyio.current_time() + timeout
        while anyio.current_time() < deadline:
            # Again on every round: a thread that was encrypting or writing when the drain
            # began waits for its next piece only afterwards.
            for scope in list(self._receiving):
                scope.cancel()
            if not self._working:
                return 0
            await anyio.sleep(0.05)
        log.warning("uploads still running at shutdown: %d", self._working)
        return self._working


_SHUTTING_DOWN = "the server is shutting down; send the upload again"
# Long enough for a store to abandon a partial blob (a multipart abort is one request).
DRAIN_SECONDS = 10.0


def _upload_gate(request: Request) -> UploadGate:
    gate: UploadGate = request.app.state.upload_gate
    return gate


Uploads = Annotated[UploadGate, Depends(_upload_gate)]
