"""A cap on request bodies, applied before anything else reads them.

A JSON body is parsed whole in memory, and before authentication: one 200 MiB login body once
took a server from 150 MB to 770 MB. Every request but the document upload (which streams into
encryption and enforces ``max_upload_bytes`` itself) may carry at most ``max_bytes``:

- a ``Content-Length`` over the cap is answered ``413`` at once, before a byte of the body is
  read or the request is routed, authenticated or logged against anyone;
- a body without a length (chunked) is counted as it arrives, and the read that passes the cap
  ends the request with ``413`` instead of handing the bytes on.

Pure ASGI, so the upload's body still streams.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ProblemType, problem_response

__all__ = ["BodyLimit"]


class BodyLimit:
    """Refuse bodies over ``max_bytes`` on every route but the ``exempt`` (method, path) pairs."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, exempt: Collection[tuple[str, str]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = frozenset(exempt)

    def _detail(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            # The client is still sending: say so, and that the connection will not be reused
            # for the rest of a body nobody will read.
            response = problem_response(
                ProblemType.TOO_LARGE,
                self._detail(),
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body reading as itself (other
                    # errors there become a 400) and is answered by api.errors as a problem.
                    raise HTTPException(413, detail=self._detail())
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length, if there is exactly one well-formed one (the HTTP server has
    already refused the malformed and the conflicting)."""
    values = [v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"]
    if len(values) != 1 or not values[0].strip().isdigit():
        return None
    return int(values[0])
