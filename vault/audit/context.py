"""The request id of the work in progress, set by the web layer and read by the access log,
so that services need not pass it through every call (``contextvars`` follow a request into
the worker threads that serve it)."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["request_id"]

request_id: ContextVar[str | None] = ContextVar("vault_request_id", default=None)
