"""What every request body is built from: a strict base that refuses unknown members, numbers
that are not finite and NUL characters, and the free-text field types."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vault.freetext import (
    LINE_PATTERN,
    NONBLANK_LINE_PATTERN,
    NONBLANK_TEXT_PATTERN,
    TEXT_PATTERN,
)

__all__ = ["Body", "Line", "NonBlankLine", "NonBlankText", "Text"]


# Free text, as vault.freetext rules it: one line or many, without control characters; and
# not blank where the services strip a value and refuse it when nothing is left. The patterns
# are in the OpenAPI document, so that it says what the server enforces.
Line = Annotated[str, Field(pattern=LINE_PATTERN)]
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]
NonBlankLine = Annotated[str, Field(pattern=NONBLANK_LINE_PATTERN)]
NonBlankText = Annotated[str, Field(pattern=NONBLANK_TEXT_PATTERN)]


class Body(BaseModel):
    # Python's JSON parser reads Infinity and NaN; no field here means them, and an answer
    # that echoed one could not be written as JSON.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _no_nul(self) -> Body:
        # PostgreSQL text cannot hold NUL, and no legitimate name or note contains one.
        for name, value in self:
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{name} contains a NUL character")
        return self
