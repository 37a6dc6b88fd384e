"""What free text people type may hold: the one rule for titles, names, notes and reasons.

Control characters (C0, DEL and C1) have no place in a title, a name, a label or a reason:
PostgreSQL cannot store NUL, a line break in a one-line field splits it wherever it is shown
or logged, and an escape sequence rewrites the terminal of whoever lists it. Notes are the one
kind of text that runs over lines, so they may hold line breaks and tabs, and nothing else of
the kind. The web layer puts the same rules in its schemas (``LINE_PATTERN``, ``TEXT_PATTERN``)
so that the OpenAPI document says what the vault enforces; the services check them again, so
that no other path (the CLI, the library) stores what the API would refuse.
"""

from __future__ import annotations

import re

from vault.errors import InvalidInput

__all__ = [
    "LINE_PATTERN",
    "NONBLANK_LINE_PATTERN",
    "NONBLANK_TEXT_PATTERN",
    "TEXT_PATTERN",
    "check_line",
    "check_text",
]

# Patterns in the subset that Python, JSON Schema (ECMA-262) and pydantic (Rust) read alike;
# Python matches them with fullmatch (its "$" would also match before a final line break).
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
# The same, with at least one character that is not white space: for what the services strip
# and refuse when nothing is left (titles, case and token names, terms, reasons to reject).
NONBLANK_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
NONBLANK_TEXT_PATTERN = (
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f]"
    r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
)
_LINE = re.compile(LINE_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)


def check_line(name: str, value: str | None) -> None:
    """``InvalidInput`` if one-line text ``value`` holds a control character or line break."""
    if value is not None and _LINE.fullmatch(value) is None:
        raise InvalidInput(f"{name} must not contain control characters or line breaks")


def check_text(name: str, value: str | None) -> None:
    """``InvalidInput`` if multi-line text ``value`` holds a control character other than a
    line break or a tab."""
    if value is not None and _TEXT.fullmatch(value) is None:
        raise InvalidInput(f"{name} must not contain control characters")
