"""The one table of problem types, from which every error answer takes its ``type``, ``title``
and status and every route its OpenAPI description; the map from vault errors to it; and the
handlers that apply them.

Every error response is ``application/problem+json`` (RFC 9457) with a stable ``type``, a
``title``, the ``status`` and a ``detail`` that helps the caller without echoing anything secret
(the vault's own messages never contain secrets; validation errors name the field, never its
value). Routes raise ``VaultError``s only: what a problem is called is decided here.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.credentials import authentication_error
from vault.errors import (
    AuthenticationFailed,
    Conflict,
    EndToEndOnly,
    IntegrityError,
    InvalidInput,
    KeyNotHeld,
    LegalHold,
    LimitExceeded,
    NotFound,
    OtpRequired,
    RangeNotSatisfiable,
    RateLimited,
    RedactionLeak,
    StorageError,
    Unavailable,
    UnsupportedType,
    VaultError,
)

__all__ = [
    "MEDIA_TYPE",
    "PROBLEM_TYPES",
    "TYPE_PREFIX",
    "ProblemType",
    "install",
    "openapi_responses",
    "problem_response",
    "problem_schema",
]

log = logging.getLogger("api.errors")
TYPE_PREFIX = "urn:source-vault:problem:"
MEDIA_TYPE = "application/problem+json"


class ProblemType(Enum):
    """Every problem an answer can be: (status, slug after ``TYPE_PREFIX``, title, when).

    ``when`` says when it is answered; the OpenAPI description of a status lists the ``when``
    of each type with that status. docs/api.md's status table has a row for every member.
    """

    BAD_REQUEST = (400, "bad-request", "Bad request", "the body could not be decoded")
    UNAUTHENTICATED = (
        401,
        "unauthenticated",
        "Authentication required",
        "missing, invalid or expired credentials",
    )
    OTP_REQUIRED = (
        401,
        "otp-required",
        "One-time code required",
        "the account needs a one-time code to log in",
    )
    END_TO_END_ONLY = (
        403,
        "end-to-end-only",
        "End-to-end login required",
        "the account logs in end to end only (a passphrase login, or a credential holding its key "
        "on the server)",
    )
    NOT_FOUND = (404, "not-found", "Not found", "not found, or outside the caller's reach")
    METHOD_NOT_ALLOWED = (
        405,
        "method-not-allowed",
        "Method not allowed",
        "wrong method for the path",
    )
    REQUEST_TIMEOUT = (
        408,
        "request-timeout",
        "Request timeout",
        "the request body arrived too slowly",
    )
    CONFLICT = (409, "conflict", "Conflict", "conflicts with the current state")
    LEGAL_HOLD = (409, "legal-hold", "Under legal hold", "a deletion of something under legal hold")
    KEY_NOT_HELD = (
        409,
        "key-not-held",
        "Key not on the server",
        "the action needs the private key on the server, which an end-to-end session keeps on "
        "the client",
    )
    TOO_LARGE = (
        413,
        "too-large",
        "Content too large",
        "larger than the upload, request body or export limit",
    )
    UNSUPPORTED_MEDIA_TYPE = (
        415,
        "unsupported-media-type",
        "Unsupported media type",
        "a media type this operation does not handle",
    )
    RANGE_NOT_SATISFIABLE = (
        416,
        "range-not-satisfiable",
        "Range not satisfiable",
        "no byte of the resource is in the range asked for",
    )
    VALIDATION = (
        422,
        "validation",
        "Invalid request",
        "a parameter or body does not match the schema",
    )
    INVALID_INPUT = (
        422,
        "invalid-input",
        "Invalid input",
        "a value the schema allows but the vault does not",
    )
    # The export is refused, not the server broken: the caller can change the redactions.
    REDACTION_LEAK = (
        422,
        "redaction-leak",
        "Redacted export failed verification",
        "the redacted export failed its verification and was not released",
    )
    RATE_LIMITED = (
        429,
        "rate-limited",
        "Too many attempts",
        "too many failed attempts, or too many uploads in progress; see Retry-After",
    )
    INTEGRITY_FAILURE = (
        500,
        "integrity-failure",
        "Stored data failed verification",
        "stored data failed verification",
    )
    INTERNAL = (500, "internal", "Internal error", "an unexpected failure (a bug)")
    UNAVAILABLE = (503, "unavailable", "Service busy", "busy; see Retry-After")
    STORAGE_UNAVAILABLE = (
        503,
        "storage-unavailable",
        "Storage unavailable",
        "the database or the blob store cannot be reached",
    )
    # Any other HTTP error the framework raises itself, answered with that error's own status
    # (0 here: it has none of its own).
    HTTP_ERROR = (0, "http-error", "HTTP error", "an HTTP error the framework raised")

    def __init__(self, status: int, slug: str, title: str, when: str) -> None:
        self.status, self.slug, self.title, self.when = status, slug, title, when

    @property
    def uri(self) -> str:
        """The problem document's ``type``."""
        return TYPE_PREFIX + self.slug


# error class -> problem type; the first matching class in the MRO wins, so VaultError itself
# is the answer for an error of the vault's that nothing more specific names.
PROBLEM_TYPES: dict[type[VaultError], ProblemType] = {
    OtpRequired: ProblemType.OTP_REQUIRED,
    EndToEndOnly: ProblemType.END_TO_END_ONLY,
    AuthenticationFailed: ProblemType.UNAUTHENTICATED,
    NotFound: ProblemType.NOT_FOUND,
    LegalHold: ProblemType.LEGAL_HOLD,
    KeyNotHeld: ProblemType.KEY_NOT_HELD,
    Conflict: ProblemType.CONFLICT,
    UnsupportedType: ProblemType.UNSUPPORTED_MEDIA_TYPE,
    RangeNotSatisfiable: ProblemType.RANGE_NOT_SATISFIABLE,
    InvalidInput: ProblemType.INVALID_INPUT,
    RateLimited: ProblemType.RATE_LIMITED,
    LimitExceeded: ProblemType.TOO_LARGE,
    Unavailable: ProblemType.UNAVAILABLE,
    StorageError: ProblemType.STORAGE_UNAVAILABLE,
    RedactionLeak: ProblemType.REDACTION_LEAK,
    IntegrityError: ProblemType.INTEGRITY_FAILURE,
    VaultError: ProblemType.INTERNAL,
}

# The HTTP errors the framework raises itself (routing, body decoding, api.bodies' cut-off),
# by status; any other is HTTP_ERROR.
_FRAMEWORK_ERRORS = {
    kind.status: kind
    for kind in (
        ProblemType.BAD_REQUEST,
        ProblemType.UNAUTHENTICATED,
        ProblemType.NOT_FOUND,
        ProblemType.METHOD_NOT_ALLOWED,
        ProblemType.TOO_LARGE,
        ProblemType.UNSUPPORTED_MEDIA_TYPE,
    )
}


def problem_response(
    kind: ProblemType, detail: str, /, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """The problem document of ``kind``; ``extra`` members follow the standard ones."""
    return _answer(kind.status, kind, detail, headers, extra)


def _answer(
    status: int,
    kind: ProblemType,
    detail: str,
    headers: dict[str, str] | None,
    extra: dict[str, Any],
) -> JSONResponse:
    body = {"type": kind.uri, "title": kind.title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def openapi_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem documents of ``statuses``, each described
    by the problem types it can carry."""
    return {
        status: {
            "description": _description(status),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def _description(status: int) -> str:
    kinds = [kind for kind in ProblemType if kind.status == status]
    if not kinds:
        raise ValueError(f"no problem type has status {status}")
    text = "; ".join(f"{kind.when} (`{kind.slug}`)" for kind in kinds)
    return text[0].upper() + text[1:]


def _vault_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(VaultError, exc)
    kind = next(PROBLEM_TYPES[cls] for cls in type(exc).__mro__ if cls in PROBLEM_TYPES)
    headers: dict[str, str] = {}
    if kind.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="source-vault"'
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    if isinstance(exc, RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"  # RFC 9110 §15.5.17
    if isinstance(exc, IntegrityError):
        log.error("integrity failure", extra={"reason": exc.reason})
    return problem_response(kind, str(exc), headers, **exc.details)


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
    return problem_response(ProblemType.VALIDATION, f"invalid or missing: {where}", errors=errors)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(StarletteHTTPException, exc)
    # FastAPI answers a body it cannot decode at all (not UTF-8) with 400, before
    # authentication, like an undecodable JSON body.
    if exc.status_code == 400 and (failed := await authentication_error(request)):
        return _vault_error(request, failed)
    kind = _FRAMEWORK_ERRORS.get(exc.status_code, ProblemType.HTTP_ERROR)
    detail = exc.detail if isinstance(exc.detail, str) else kind.title
    # HTTP_ERROR has no status of its own: every framework error keeps the one it was raised with.
    return _answer(exc.status_code, kind, detail, dict(exc.headers or {}), {})


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The type only: an exception's message could carry request data.
    log.error("unhandled error", extra={"error": type(exc).__name__})
    return problem_response(ProblemType.INTERNAL, "the server failed to answer")


def install(app: FastAPI) -> None:
    app.add_exception_handler(VaultError, _vault_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
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
