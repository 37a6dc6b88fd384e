"""The renderer of ``vault redact preview``: a document's text with its redactions marked,
highlighted on a terminal and in brackets otherwise, then what the text cannot show (regions,
pages read by OCR, redactions left out) on standard error.

It draws what the server answered and decides nothing: which redactions apply is the server's
to say, and an export applies them itself.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from vault.cli.output import printable, say
from vault.cli.remote.marks import (
    as_marked,
    bracketed,
    cut,
    describe,
    legend,
    marked_ranges,
    styled,
)

__all__ = ["render"]


def render(shown: Mapping[str, Any], found: Sequence[Mapping[str, Any]], *, show_all: bool) -> None:
    """Print ``shown`` (the answer of ``GET /v1/documents/{id}/text``) with the redactions in
    ``found`` marked: approved and proposed ones, and rejected or withdrawn ones with
    ``show_all``; stale ones never (their offsets count in other content)."""
    text: str = shown["text"]
    statuses = {"approved", "proposed"} | ({"rejected"} if show_all else set())
    usable = [r for r in found if r.get("current", True) and as_marked(r["status"]) in statuses]
    stale = sum(1 for r in found if not r.get("current", True))
    hidden = sum(
        1 for r in found if r.get("current", True) and as_marked(r["status"]) not in statuses
    )
    ranges: list[tuple[int, int, str]] = []
    regions = [r for r in usable if r["kind"] == "region"]
    terms = [r for r in usable if r["kind"] == "term"]
    if terms:
        from vault.redaction.match import find_term  # pure; loaded only when needed

        for r in terms:
            ranges += [(a, b, as_marked(r["status"])) for a, b in find_term(text, r["term"])]
    ranges += [
        (r["start"], r["end"], as_marked(r["status"])) for r in usable if r["kind"] == "span"
    ]
    marks = marked_ranges(len(text), ranges)
    pieces = cut(text, marks)
    on_terminal = sys.stdout.isatty()
    if on_terminal:
        Console(highlight=False).print(styled(pieces))
    else:
        sys.stdout.write(bracketed(pieces))
        if text and not text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
    for r in regions:
        say(
            f"Region {r['id'][:8]} ({r['status']}, {r['category']}): "
            + escape(printable(describe(r)))
        )
    say(
        legend(on_terminal, {s for *_, s in marks})
        if marks
        else "No redactions marked in the text."
    )
    if ocr_pages := shown.get("ocr_pages"):
        pages = ", ".join(str(p) for p in ocr_pages)
        say(
            f"Page(s) {pages}: no text layer; the text shown is what OCR read there, and an "
            "export's bars cover the words where OCR placed them."
        )
    if hidden:
        say(f"[dim]{hidden} rejected or withdrawn redaction(s) not shown (--all shows them).[/]")
    if stale:
        say(f"[dim]{stale} redaction(s) made on other content (stale) not shown.[/]")
