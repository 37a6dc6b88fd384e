"""The three forms of a redaction on the command line (a term, a span, a region), parsed into
the request body ``POST /v1/documents/{id}/redactions`` takes, or one line saying what is
wrong."""

from __future__ import annotations

import re
import sys
from typing import Any

from vault.cli.output import say
from vault.errors import InvalidInput
from vault.redaction.model import Category

__all__ = ["FORMS", "parse_rect", "parse_span", "proposal_body", "why"]

FORMS = "--text TERM, --span START:END, or --page N with --rect X0,Y0,X1,Y1"


_SPAN = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*", re.ASCII)


def parse_span(value: str) -> tuple[int, int]:
    """``"12:20"`` -> ``(12, 20)``: code-point offsets with ``0 <= start < end``."""
    found = _SPAN.fullmatch(value)
    if found is not None and int(found[1]) < int(found[2]):
        return int(found[1]), int(found[2])
    raise InvalidInput(
        f"--span takes START:END, two whole numbers with START < END (got '{value}'); the "
        "offsets count characters of the text `vault redact preview` shows"
    )


def parse_rect(value: str) -> list[float]:
    """``"72,700,200,720"`` -> ``[72.0, 700.0, 200.0, 720.0]`` with ``x0 < x1`` and ``y0 < y1``."""
    parts = value.replace(" ", "").split(",")
    try:
        rect = [float(p) for p in parts]
    except ValueError:
        rect = []
    if len(rect) == 4 and all(0 <= v < float("inf") for v in rect):
        x0, y0, x1, y1 = rect
        if x0 < x1 and y0 < y1:
            return rect
    raise InvalidInput(
        f"--rect takes X0,Y0,X1,Y1, four numbers with X0 < X1 and Y0 < Y1 (got '{value}'): PDF "
        "points from the page's bottom-left corner, or image pixels from the top-left"
    )


def _read_term(value: str) -> str:
    """The term itself, or for ``-`` the first line of standard input (a name typed on the
    command line stays in the shell's history)."""
    if value == "-":
        if sys.stdin.isatty():
            say("Type the text to redact, then Enter:")
        value = sys.stdin.readline().rstrip("\r\n")
    if not value.strip():
        raise InvalidInput("--text is empty: give the text to redact")
    return value


def proposal_body(
    text: str | None,
    span: str | None,
    page: int | None,
    rect: str | None,
    category: Category,
    note: str | None,
) -> dict[str, Any]:
    """The request body for exactly one of the three forms, or one line saying what is wrong."""
    given = [
        f for f, v in (("--text", text), ("--span", span), ("--page/--rect", page)) if v is not None
    ]
    if rect is not None and page is None:
        given.append("--page/--rect")
    if not given:
        raise InvalidInput(f"say what to redact: {FORMS}")
    if len(set(given)) > 1:
        raise InvalidInput(f"give only one of {FORMS}")
    body: dict[str, Any] = {"category": category.value}
    if note is not None:
        body["note"] = note
    if span is not None:
        body["start"], body["end"] = parse_span(span)
        return {"kind": "span", **body}
    if text is not None:
        return {"kind": "term", "term": _read_term(text), **body}
    if page is None:
        raise InvalidInput("--rect needs --page N (pages count from 1)")
    if rect is None:
        raise InvalidInput("--page needs --rect X0,Y0,X1,Y1")
    if page < 1:
        raise InvalidInput("--page counts from 1")
    return {"kind": "region", "page": page, "rect": parse_rect(rect), **body}


def why(note: str | None, what: str) -> str:
    """``note``, which ``what`` (a rejection, a withdrawal) requires: one line if missing."""
    if note is None or not note.strip():
        raise InvalidInput(f"{what} needs --note saying why")
    return note
