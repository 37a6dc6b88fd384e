"""Request ids, security headers and structured access logs.

The access log is one JSON object per request: request id, method, route template (never the
raw path or query), status and duration. Client addresses appear only when the operator sets
``VAULT_LOG_CLIENT_ADDRESSES=true``.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import MEDIA_TYPE, ProblemType
from vault.audit import context as request_context

__all__ = ["JsonFormatter", "SecurityMiddleware"]

log = logging.getLogger("api.access")

_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# The interactive docs page (api.docs_page) loads every file from the vault itself, so it may
# fetch from 'self' and nowhere else, with no inline script or style; everything else gets 'none'.
_DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
)


class SecurityMiddleware:
    """Pure ASGI (no body buffering, so streaming stays streaming)."""

    def __init__(self, app: ASGIApp, *, log_client_addresses: bool = False) -> None:
        self.app = app
        self.log_addresses = log_client_addresses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        # The access log reads it from here (it follows the request into worker threads).
        request_context.request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        path = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.extend(_HEADERS)
                headers.append(_DOCS_CSP if path == "/docs" else _API_CSP)
                headers.append((b"x-request-id", request_id.encode()))
                if path.startswith("/v1/"):
                    headers.append((b"cache-control", b"no-store"))
                if scope.get("scheme") == "https":
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        started_response = False

        async def send_tracked(message: Message) -> None:
            nonlocal started_response
            started_response = started_response or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            # Starlette answers an unhandled error from its outermost middleware, outside this
            # one, so that answer would lack the headers above: answer it here instead (the
            # type only in the log: a message could carry request data).
            log.error("unhandled error", extra={"error": type(exc).__name__})
            if started_response:
                raise
            await _internal_error(send_with_headers)
        finally:
            route = scope.get("route")
            entry: dict[str, Any] = {
                "request_id": request_id,
                "method": scope.get("method"),
                "route": getattr(route, "path", "unmatched"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            if self.log_addresses and scope.get("client"):
                entry["client"] = scope["client"][0]
            log.info("request", extra={"fields": entry})


async def _internal_error(send: Send) -> None:
    internal = ProblemType.INTERNAL
    body = json.dumps(
        {
            "type": internal.uri,
            "title": internal.title,
            "status": internal.status,
            "detail": "the server failed to answer",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": internal.status,
            "headers": [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class JsonFormatter(logging.Formatter):
    """One JSON object per line; only fields put in ``extra={"fields": ...}`` are added."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        for key in ("reason", "error"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        return json.dumps(data, default=str)
