"""Marks in a previewed text: where redactions fall, and how a terminal or a file shows them.

Where redactions overlap, the strongest status wins (approved, then proposed, then rejected).
A redaction with a withdrawal pending still applies, so it is marked as approved; a withdrawn
one is marked like a rejected one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import Any

from rich.markup import escape
from rich.text import Text

__all__ = ["as_marked", "bracketed", "cut", "describe", "legend", "marked_ranges", "styled"]

# Where redactions overlap, the preview shows the strongest status.
_LEVEL = {"rejected": 1, "proposed": 2, "approved": 3}
_STATUS = {level: status for status, level in _LEVEL.items()}
_STYLE = {"approved": "bold black on red", "proposed": "yellow underline", "rejected": "dim strike"}
# Brackets for output that is not a terminal (a pipe, a file): the marks must survive as text.
_BRACKETS = {"approved": ("«", "»"), "proposed": ("«?", "?»"), "rejected": ("«-", "-»")}
# The status a redaction is marked with: its own, but for the two a withdrawal gives it.
_MARKED_AS = {"withdrawing": "approved", "withdrawn": "rejected"}


def as_marked(status: str) -> str:
    """The status a redaction of ``status`` is marked with in a preview."""
    return _MARKED_AS.get(status, status)


def _number(value: float) -> str:
    return f"{value:g}"


def describe(r: Mapping[str, Any]) -> str:
    """What a redaction covers, for a table: the text (a span's, or the term), or the page and
    rectangle of a region (and the text under it, on a PDF)."""
    if r["kind"] == "region":
        rect = ", ".join(_number(v) for v in r.get("rect") or [])
        covered = " ".join(str(r.get("text") or "").split())
        return f"p.{r['page']} [{rect}]" + (f" {covered}" if covered else "")
    if r["kind"] == "span":
        return f"{r['start']}:{r['end']} {r['text']}"
    return str(r["text"])


def marked_ranges(
    length: int, ranges: Iterable[tuple[int, int, str]]
) -> list[tuple[int, int, str]]:
    """Non-overlapping, sorted ``(start, end, status)`` ranges within ``[0, length)`` from
    ranges that may overlap; where they do, approved beats proposed beats rejected."""
    events: list[tuple[int, int, int]] = []
    for start, end, status in ranges:
        start, end = max(0, start), min(length, end)
        if start < end:
            events += [(start, 1, _LEVEL[status]), (end, -1, _LEVEL[status])]
    events.sort()
    counts = dict.fromkeys(_STATUS, 0)
    out: list[tuple[int, int, str]] = []
    previous: int | None = None
    for position, group in groupby(events, key=lambda e: e[0]):
        if previous is not None and position > previous:
            level = max((lv for lv, n in counts.items() if n), default=0)
            if level:
                status = _STATUS[level]
                if out and out[-1][1] == previous and out[-1][2] == status:
                    out[-1] = (out[-1][0], position, status)
                else:
                    out.append((previous, position, status))
        for _, delta, level in group:
            counts[level] += delta
        previous = position
    return out


def cut(text: str, marks: Sequence[tuple[int, int, str]]) -> list[tuple[str, str | None]]:
    """The text cut into (piece, status or None) in order."""
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for start, end, status in marks:
        if at < start:
            pieces.append((text[at:start], None))
        pieces.append((text[start:end], status))
        at = end
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces


def _screen(piece: str) -> str:
    """What a terminal may be sent: no carriage returns, other control characters (escape
    sequences above all) but newline and tab as U+FFFD (see ``output.printable``)."""
    return "".join(
        ""
        if ch == "\r"
        else ch
        if ch in "\n\t" or unicodedata.category(ch) != "Cc"
        else "\N{REPLACEMENT CHARACTER}"
        for ch in piece
    )


def styled(pieces: Sequence[tuple[str, str | None]]) -> Text:
    """The preview for a terminal: redactions styled, pages ruled off."""
    out = Text()
    page = 1
    for piece, status in pieces:
        for n, part in enumerate(piece.split("\f")):
            if n:
                page += 1
                out.append(f"\n── page {page} ──\n", style="dim")
            out.append(_screen(part), style=_STYLE[status] if status else "")
    return out


def bracketed(pieces: Sequence[tuple[str, str | None]]) -> str:
    """The preview as plain text: redactions in brackets (form feeds kept between pages)."""
    return "".join(
        f"{_BRACKETS[status][0]}{piece}{_BRACKETS[status][1]}" if status else piece
        for piece, status in pieces
    )


_LEGEND = {
    "approved": "replaced in exports",
    "proposed": "awaiting another editor",
    "rejected": "not applied",
}


def legend(styled: bool, shown: set[str]) -> str:
    """One line of rich markup explaining the marks in ``shown``."""
    parts = []
    for status, meaning in _LEGEND.items():
        if status not in shown:
            continue
        if styled:
            parts.append(f"[{_STYLE[status]}]{status}[/] ({meaning})")
        else:
            left, right = _BRACKETS[status]
            parts.append(f"{escape(left)}…{escape(right)} {status} ({meaning})")
    return "Legend: " + ", ".join(parts)


def who(user_id: str | None, me: str | None) -> str | None:
    """A redaction's proposer or reviewer as a listing shows them: "you", or an id's start."""
    if user_id is None:
        return None
    return "you" if user_id == me else user_id[:8]


def status_of(r: Mapping[str, Any]) -> str:
    """A redaction's status, and "(stale)" when made on other content than the document's."""
    return str(r["status"]) + ("" if r.get("current", True) else " (stale)")
