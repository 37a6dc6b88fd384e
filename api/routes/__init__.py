"""One router per resource."""

from __future__ import annotations

from typing import Any

from api.errors import MEDIA_TYPE

_DESCRIPTIONS = {
    401: "Missing, invalid or expired credentials",
    404: "Not found, or outside the caller's reach",
    408: "The request body arrived too slowly",
    409: "Conflicts with the current state",
    413: "Larger than the upload or export limit",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many failed attempts, or too many uploads in progress; see Retry-After",
    500: "Stored data failed verification",
    503: "Busy or storage unavailable; see Retry-After",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem documents a route can answer with."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
