"""The one table from vault errors to RFC 9457 problem details, and the handlers that apply it.

Every error response is ``application/problem+json`` with a stable ``type``, a ``title``, the
``status`` and a ``detail`` that helps the caller without echoing anything secret (the vault's
own messages never contain secrets; validation errors name the field, never its value).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.credentials import authentication_error
from vault.errors import (
    AuthenticationFailed,
    Conflict,
    IntegrityError,
    InvalidInput,
    LegalHold,
    LimitExceeded,
    NotFound,
    OtpRequired,
    RateLimited,
    RedactionLeak,
    StorageError,
    Unavailable,
    UnsupportedType,
    VaultError,
)

__all__ = ["PROBLEM_TYPES", "Problem", "install", "problem_response"]

log = logging.getLogger("api.errors")
TYPE_PREFIX = "urn:source-vault:problem:"
MEDIA_TYPE = "application/problem+json"

# error class -> (status, type slug, title); the first matching class in the MRO wins.
PROBLEM_TYPES: dict[type[VaultError], tuple[int, str, str]] = {
    OtpRequired: (401, "otp-required", "One-time code required"),
    AuthenticationFailed: (401, "unauthenticated", "Authentication required"),
    NotFound: (404, "not-found", "Not found"),
    LegalHold: (409, "legal-hold", "Under legal hold"),
    Conflict: (409, "conflict", "Conflict"),
    UnsupportedType: (415, "unsupported-media-type", "Unsupported media type"),
    InvalidInput: (422, "invalid-input", "Invalid input"),
    RateLimited: (429, "rate-limited", "Too many attempts"),
    LimitExceeded: (413, "too-large", "Content too large"),
    Unavailable: (503, "unavailable", "Service busy"),
    StorageError: (503, "storage-unavailable", "Storage unavailable"),
    # The export is refused, not the server broken: the caller can change the redactions.
    RedactionLeak: (422, "redaction-leak", "Redacted export failed verification"),
    IntegrityError: (500, "integrity-failure", "Stored data failed verification"),
}


class Problem(Exception):
    """An HTTP-only problem raised by the web layer itself (a malformed request body)."""

    def __init__(self, status: int, slug: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _vault_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(VaultError, exc)
    status, slug, title = 500, "internal", "Internal error"
    for cls in type(exc).__mro__:
        if cls in PROBLEM_TYPES:
            status, slug, title = PROBLEM_TYPES[cls]
            break
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="source-vault"'
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    if isinstance(exc, IntegrityError):
        log.error("integrity failure", extra={"reason": exc.reason})
    return problem_response(status, slug, title, str(exc), headers, **exc.details)


def _problem(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(Problem, exc)
    return problem_response(exc.status, exc.slug, exc.title, exc.detail)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(RequestValidationError, exc)
    # A body that did not decode was refused before the route's authentication ran: the
    # caller without valid credentials gets the 401 first (api.credentials says why).
    if any(err.get("type") == "json_invalid" for err in exc.errors()) and (
        failed := await authentication_error(request)
    ):
        return _vault_error(request, failed)
    errors = [
        {"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    where = ", ".join(e["location"] for e in errors) or "request"
    return problem_response(
        422, "validation", "Invalid request", f"invalid or missing: {where}", errors=errors
    )


_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("too-large", "Content too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


async def _http(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(StarletteHTTPException, exc)
    # FastAPI answers a body it cannot decode at all (not UTF-8) with 400, before
    # authentication, like an undecodable JSON body.
    if exc.status_code == 400 and (failed := await authentication_error(request)):
        return _vault_error(request, failed)
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(exc.status_code, slug, title, detail, dict(exc.headers or {}))


def _database_data(request: Request, exc: Exception) -> JSONResponse:
    # A value the database refuses to store (PostgreSQL text cannot hold NUL) that slipped past
    # validation is the caller's input, not a server failure.
    return problem_response(
        422, "invalid-input", "Invalid input", "a value contains characters that cannot be stored"
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The type only: an exception's message could carry request data.
    log.error("unhandled error", extra={"error": type(exc).__name__})
    return problem_response(500, "internal", "Internal error", "the server failed to answer")


def install(app: FastAPI) -> None:
    app.add_exception_handler(VaultError, _vault_error)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DataError, _database_data)
    app.add_exception_handler(Exception, _unexpected)


def problem_schema() -> dict[str, Any]:
    """The OpenAPI schema of a problem document."""
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }
