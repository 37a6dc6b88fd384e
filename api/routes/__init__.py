"""One router per resource."""

from __future__ import annotations

from api.errors import openapi_responses as problems

__all__ = ["problems"]
