"""``vault redact``: Redactions: suggest, propose, review (four eyes) and preview.

A redaction marks what must not leave the vault: a span of a document's text, every occurrence
of a term, or a rectangle on a page. One editor proposes it, another approves it (the server
refuses the proposer's own approval), and only approved redactions are applied by
``vault export``. The server decides who may do what; this module adds parsing of the three
forms, names for ids, and a preview that shows the redactions in the text.

Offsets count Unicode code points of the text ``GET /v1/documents/{id}/text`` returns (a PDF's
text layer, pages separated by form feeds), the text ``vault redact preview`` shows.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from vault.cli.lookup import as_uuid, by_prefix, resolve_document
from vault.cli.output import AsJson, emit, emit_one, printable, say, when
from vault.cli.session import ProfileOpt, open_client
from vault.errors import InvalidInput
from vault.redaction.model import Category

if TYPE_CHECKING:
    from vault.cli.client import Client

__all__ = ["FORMS", "app", "marked_ranges", "parse_rect", "parse_span"]

app = typer.Typer(
    help="Redactions: suggest, propose, approve or reject, preview.", no_args_is_help=True
)

FORMS = "--text TERM, --span START:END, or --page N with --rect X0,Y0,X1,Y1"

DocumentArg = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="The document's id, or a unique prefix of it (at least 4 characters).",
        show_default=False,
    ),
]
RedactionArg = Annotated[
    str,
    typer.Argument(
        metavar="RID",
        help="The redaction's full id, or a unique prefix of it with --doc.",
        show_default=False,
    ),
]
DocOpt = Annotated[
    str | None,
    typer.Option(
        "--doc",
        "-d",
        metavar="ID",
        help="The redaction's document (id or prefix): then RID may be a prefix (4+ characters) "
        "of an id among that document's redactions.",
        show_default=False,
    ),
]

# Where redactions overlap, the preview shows the strongest status.
_LEVEL = {"rejected": 1, "proposed": 2, "approved": 3}
_STATUS = {level: status for status, level in _LEVEL.items()}
_STYLE = {"approved": "bold black on red", "proposed": "yellow underline", "rejected": "dim strike"}
# Brackets for output that is not a terminal (a pipe, a file): the marks must survive as text.
_BRACKETS = {"approved": ("«", "»"), "proposed": ("«?", "?»"), "rejected": ("«-", "-»")}


# -- parsing ----------------------------------------------------------------------------------


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


def _proposal(
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


# -- presentation -----------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:g}"


def _what(r: Mapping[str, Any]) -> str:
    """What a redaction covers, for a table: the text (a span's, or the term), or the page and
    rectangle of a region (and the text under it, on a PDF)."""
    if r["kind"] == "region":
        rect = ", ".join(_number(v) for v in r.get("rect") or [])
        covered = " ".join(str(r.get("text") or "").split())
        return f"p.{r['page']} [{rect}]" + (f" {covered}" if covered else "")
    if r["kind"] == "span":
        return f"{r['start']}:{r['end']} {r['text']}"
    return str(r["text"])


def _who(user_id: str | None, me: str | None) -> str | None:
    if user_id is None:
        return None
    return "you" if user_id == me else user_id[:8]


def _status(r: Mapping[str, Any]) -> str:
    return str(r["status"]) + ("" if r.get("current", True) else " (stale)")


def _resolve_redaction(client: Client, ref: str, document: str | None) -> str:
    """A full id as is; a prefix only among the redactions of ``document`` (redactions are
    listed per document, never across the vault)."""
    as_id = as_uuid(ref)
    if as_id is not None:
        return as_id
    if document is None:
        raise InvalidInput(
            f"'{ref}' is not a full redaction id: give the whole id, or a prefix with "
            "--doc DOCUMENT (see `vault redact ls DOCUMENT`)"
        )
    doc_id = resolve_document(client, document)
    found = client.get(f"/v1/documents/{doc_id}/redactions")["redactions"]
    return by_prefix(ref, (r["id"] for r in found), "redaction")


# -- commands ---------------------------------------------------------------------------------


@app.command("suggest")
def suggest(
    document: DocumentArg,
    accept_all: Annotated[
        bool,
        typer.Option(
            "--accept-all", help="Propose every suggestion as a span redaction (for review)."
        ),
    ] = False,
    as_json: AsJson = False,
    profile: ProfileOpt = None,
) -> None:
    """Suggest what to redact: e-mail addresses, phone numbers, URLs, handles, ID-like numbers,
    and the source's recorded names and aliases (searched for only when you are the handler of
    the document's source).

    With --accept-all every suggestion becomes a proposed redaction, which another editor must
    still approve. With --json: the server's answer, {"suggestions": [{"start", "end",
    "category", "reason", "text"}, ...], "created": [...], "source_names_used"}.
    """
    query = "?accept_all=true" if accept_all else ""
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        answer: dict[str, Any] = client.post(f"/v1/documents/{doc_id}/redactions/suggest{query}")
    if as_json:
        emit_one(answer, [], as_json=True)
        return
    items: list[dict[str, Any]] = answer["suggestions"]
    rows = [{**s, "span": f"{s['start']}:{s['end']}"} for s in items]
    emit(
        rows,
        [("span", "SPAN"), ("reason", "REASON"), ("category", "CATEGORY"), ("text", "TEXT")],
        as_json=False,
        key="suggestions",
        empty=f"No suggestions for document {doc_id[:8]}.",
    )
    if answer["source_names_used"]:
        say("The source's recorded names and aliases were searched for.")
    else:
        say(
            "[dim]The source's names were not searched for: only the handler of the document's "
            "source can (or the document has no source, or none were recorded).[/]"
        )
    created: list[dict[str, Any]] = answer["created"]
    if created:
        say(
            f"Proposed {len(created)} redaction(s); another editor must approve them "
            f"(`vault redact ls {doc_id[:8]}`):"
        )
        for r in created:
            say(f"  {r['id']}")


@app.command("add")
def add(
    document: DocumentArg,
    category: Annotated[
        Category,
        typer.Option("--category", "-c", help="Why it must go, for reviewers.", show_default=False),
    ],
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            "-t",
            metavar="TERM|-",
            help="Redact every occurrence of this text (ignoring case, accents and spacing); "
            "- reads it from the first line of standard input, which keeps a name out of your "
            "shell history.",
            show_default=False,
        ),
    ] = None,
    span: Annotated[
        str | None,
        typer.Option(
            "--span",
            "-s",
            metavar="START:END",
            help="Redact the characters START (from 0) up to END (not included) of the text "
            "`vault redact preview` shows.",
            show_default=False,
        ),
    ] = None,
    page: Annotated[
        int | None,
        typer.Option(
            "--page", metavar="N", help="Redact a region on page N (from 1).", show_default=False
        ),
    ] = None,
    rect: Annotated[
        str | None,
        typer.Option(
            "--rect",
            metavar="X0,Y0,X1,Y1",
            help="The region's rectangle: PDF points from the page's bottom-left corner, or "
            "image pixels from the top-left.",
            show_default=False,
        ),
    ] = None,
    note: Annotated[
        str | None, typer.Option("--note", "-n", help="A note for the reviewer (encrypted).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the server's answer as JSON.")
    ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Propose a redaction: a term (--text), a span of the text (--span) or a region of a page
    (--page and --rect). Exactly one of them.

    Prints the new redaction's id on standard output. It applies to exports only once another
    editor has approved it (`vault redact approve`). A span is bound to the text you are
    shown now: if the document's content is not the one its offsets count in, the server
    refuses it as stale.
    """
    body = _proposal(text, span, page, rect, category, note)
    occurrences: int | None = None
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        if body["kind"] != "region":
            shown: dict[str, Any] = client.get(f"/v1/documents/{doc_id}/text")
            body["content_sha256"] = shown["sha256"]
            if body["kind"] == "span" and body["end"] > len(shown["text"]):
                raise InvalidInput(
                    f"the span ends past the document's text ({len(shown['text'])} characters)"
                )
            if body["kind"] == "term":
                from vault.redaction.match import find_term  # pure; loaded only when needed

                occurrences = len(list(find_term(shown["text"], body["term"])))
        answer: dict[str, Any] = client.post(f"/v1/documents/{doc_id}/redactions", body)
    if as_json:
        emit_one(answer, [], as_json=True)
    else:
        typer.echo(answer["id"])
    what = escape(printable(_what(answer)))
    say(
        f"Proposed {answer['kind']} redaction {answer['id'][:8]} ({answer['category']}) of "
        f"document {doc_id[:8]}: {what}"
    )
    if occurrences is not None:
        plural = "occurrence" if occurrences == 1 else "occurrences"
        say(f"The term matches {occurrences} {plural} in the document's text now.")
        if not occurrences:
            say("[yellow]It matches nothing: check the spelling, or redact a --span.[/]")
    say(f"Another editor must approve it: `vault redact approve {answer['id']}`.")


@app.command("ls")
def ls(document: DocumentArg, as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """List a document's redactions, oldest first (editors of its case).

    STATUS is proposed, approved or rejected, and "(stale)" when the redaction was made on other
    content than the document's (it can neither be approved nor applied). With --json: a JSON
    list of the redaction objects, each with the API's fields and its full `id`.
    """
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        found: list[dict[str, Any]] = client.get(f"/v1/documents/{doc_id}/redactions")["redactions"]
        me = client.get("/v1/auth/me")["id"] if found and not as_json else None
    if as_json:
        # A bare list, as scripts that loop over a document's redactions expect.
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    rows = [
        {
            "id": r["id"][:8],
            "status": _status(r),
            "kind": r["kind"],
            "category": r["category"],
            "what": _what(r),
            "proposer": _who(r["proposer"], me),
            "reviewer": _who(r.get("reviewer"), me),
            "created": when(r["created_at"]),
        }
        for r in found
    ]
    emit(
        rows,
        [
            ("id", "ID"),
            ("status", "STATUS"),
            ("kind", "KIND"),
            ("category", "CATEGORY"),
            ("what", "WHAT"),
            ("proposer", "PROPOSER"),
            ("reviewer", "REVIEWER"),
            ("created", "CREATED (UTC)"),
        ],
        as_json=False,
        key="redactions",
        empty=f"No redactions for document {doc_id[:8]}.",
    )


def _review(profile: str | None, ref: str, document: str | None, verb: str, body: Any) -> None:
    with open_client(profile) as client:
        rid = _resolve_redaction(client, ref, document)
        answer: dict[str, Any] = client.post(f"/v1/redactions/{rid}/{verb}", body)
    done = "Approved" if verb == "approve" else "Rejected"
    say(
        f"{done} {answer['kind']} redaction {answer['id'][:8]} ({answer['category']}) of "
        f"document {answer['document'][:8]}."
    )


@app.command("approve")
def approve(
    redaction: RedactionArg,
    note: Annotated[
        str | None, typer.Option("--note", "-n", help="A note on the review (encrypted).")
    ] = None,
    document: DocOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Approve a proposed redaction: four eyes, so not one you proposed yourself.

    Once approved it applies to every export of the document (`vault export`).
    """
    _review(profile, redaction, document, "approve", {"note": note} if note else None)


@app.command("reject")
def reject(
    redaction: RedactionArg,
    note: Annotated[
        str | None,
        typer.Option(
            "--note",
            "-n",
            help="Why (required; kept, encrypted, for the case's editors).",
            show_default=False,
        ),
    ] = None,
    document: DocOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Reject a proposed redaction, with a note saying why (any editor of the case, the
    proposer too)."""
    if note is None or not note.strip():
        raise InvalidInput("a rejection needs --note saying why")
    _review(profile, redaction, document, "reject", {"note": note})


# -- preview ----------------------------------------------------------------------------------


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


def _pieces(text: str, marks: Sequence[tuple[int, int, str]]) -> list[tuple[str, str | None]]:
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


def _styled(pieces: Sequence[tuple[str, str | None]]) -> Text:
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


def _bracketed(pieces: Sequence[tuple[str, str | None]]) -> str:
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


def _legend(styled: bool, shown: set[str]) -> str:
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


@app.command("preview")
def preview(
    document: DocumentArg,
    show_all: Annotated[
        bool, typer.Option("--all", "-a", help="Also show rejected redactions.")
    ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Show a document's text with its redactions marked: approved ones (what an export
    removes) and proposed ones, every occurrence of a term included.

    On a terminal they are highlighted; otherwise (a pipe, a file) approved text is put in
    «…», proposed in «?…?» and, with --all, rejected in «-…-». Region redactions are listed
    after the text, on standard error with the legend.
    """
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        shown: dict[str, Any] = client.get(f"/v1/documents/{doc_id}/text")
        found: list[dict[str, Any]] = client.get(f"/v1/documents/{doc_id}/redactions")["redactions"]
    text: str = shown["text"]
    statuses = {"approved", "proposed"} | ({"rejected"} if show_all else set())
    usable = [r for r in found if r.get("current", True) and r["status"] in statuses]
    stale = sum(1 for r in found if not r.get("current", True))
    hidden = sum(1 for r in found if r.get("current", True) and r["status"] not in statuses)
    ranges: list[tuple[int, int, str]] = []
    regions = [r for r in usable if r["kind"] == "region"]
    terms = [r for r in usable if r["kind"] == "term"]
    if terms:
        from vault.redaction.match import find_term  # pure; loaded only when needed

        for r in terms:
            ranges += [(a, b, r["status"]) for a, b in find_term(text, r["term"])]
    ranges += [(r["start"], r["end"], r["status"]) for r in usable if r["kind"] == "span"]
    marks = marked_ranges(len(text), ranges)
    pieces = _pieces(text, marks)
    styled = sys.stdout.isatty()
    if styled:
        Console(highlight=False).print(_styled(pieces))
    else:
        sys.stdout.write(_bracketed(pieces))
        if text and not text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
    for r in regions:
        say(
            f"Region {r['id'][:8]} ({r['status']}, {r['category']}): " + escape(printable(_what(r)))
        )
    say(_legend(styled, {s for *_, s in marks}) if marks else "No redactions marked in the text.")
    if ocr_pages := shown.get("ocr_pages"):
        pages = ", ".join(str(p) for p in ocr_pages)
        say(
            f"Page(s) {pages}: no text layer; the text shown is what OCR read there, and an "
            "export's bars cover the words where OCR placed them."
        )
    if hidden:
        say(f"[dim]{hidden} rejected redaction(s) not shown (--all shows them).[/]")
    if stale:
        say(f"[dim]{stale} redaction(s) made on other content (stale) not shown.[/]")
