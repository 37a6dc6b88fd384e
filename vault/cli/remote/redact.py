"""``vault redact``: Redactions: suggest, propose, review (four eyes) and preview.

A redaction marks what must not leave the vault: a span of a document's text, every occurrence
of a term, or a rectangle on a page. One editor proposes it, another approves it (the server
refuses the proposer's own approval), and only approved redactions are applied by
``vault export``. The server decides who may do what; this module adds parsing of the three
forms, names for ids, a preview of the redactions in the text (``vault.cli.remote.preview``),
and, in an end-to-end session, proposals and reviews sealed here (``sealed_redactions``).

Offsets count Unicode code points of the text ``GET /v1/documents/{id}/text`` returns (a PDF's
text layer, pages separated by form feeds), the text ``vault redact preview`` shows.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from vault.cli.output import AsJson, emit, emit_one, printable, say, when
from vault.cli.remote.lookup import redaction_id_of, resolve_document
from vault.cli.remote.marks import describe, marked_ranges, status_of, who
from vault.cli.remote.preview import render
from vault.cli.remote.redaction_forms import FORMS, parse_rect, parse_span, proposal_body, why
from vault.cli.remote.session import ProfileOpt, open_client
from vault.errors import InvalidInput
from vault.redaction.model import Category

__all__ = ["FORMS", "app", "marked_ranges", "parse_rect", "parse_span"]

app = typer.Typer(
    help="Redactions: suggest, propose, approve or reject, withdraw, preview.", no_args_is_help=True
)


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


# -- presentation -----------------------------------------------------------------------------


def _sealed() -> Any:
    """``vault.cli.remote.sealed_redactions``, loaded only when used: its renderers are heavy."""
    from vault.cli.remote import sealed_redactions

    return sealed_redactions


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
    body = proposal_body(text, span, page, rect, category, note)
    occurrences: int | None = None
    answer: dict[str, Any]
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        if client.key is not None:  # end to end: checked against the document, sealed here
            answer = _sealed().propose(client, doc_id, _sealed().proposal_of(body))
        elif body["kind"] != "region":
            shown: dict[str, Any] = client.get(f"/v1/documents/{doc_id}/text")
            body["content_sha256"] = shown["sha256"]
            if body["kind"] == "span" and body["end"] > len(shown["text"]):
                raise InvalidInput(
                    f"the span ends past the document's text ({len(shown['text'])} characters)"
                )
            if body["kind"] == "term":
                from vault.redaction.match import find_term  # pure; loaded only when needed

                occurrences = len(list(find_term(shown["text"], body["term"])))
        if client.key is None:
            answer = client.post(f"/v1/documents/{doc_id}/redactions", body)
    sealed_here = bool(answer.pop("sealed_here", False))
    if as_json:
        emit_one(answer, [], as_json=True)
    else:
        typer.echo(answer["id"])
    what = escape(printable(describe(answer)))
    say(
        f"Proposed {answer['kind']} redaction {answer['id'][:8]} ({answer['category']}) of "
        f"document {doc_id[:8]}: {what}"
    )
    if occurrences is not None:
        plural = "occurrence" if occurrences == 1 else "occurrences"
        say(f"The term matches {occurrences} {plural} in the document's text now.")
        if not occurrences:
            say("[yellow]It matches nothing: check the spelling, or redact a --span.[/]")
    doc_opt = f" --doc {doc_id[:8]}" if sealed_here else ""
    say(f"Another editor must approve it: `vault redact approve {answer['id']}{doc_opt}`.")


@app.command("ls")
def ls(document: DocumentArg, as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """List a document's redactions, oldest first (editors of its case).

    STATUS is proposed, approved, rejected, withdrawing (approved, a withdrawal awaiting
    review: it still applies) or withdrawn, and "(stale)" when the redaction was made on other
    content than the document's (it can neither be approved nor applied). With --json: a JSON
    list of the redaction objects, each with the API's fields and its full `id`.
    """
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        if client.key is not None:
            found: list[dict[str, Any]] = _sealed().listed(client, doc_id)
        else:
            found = client.get(f"/v1/documents/{doc_id}/redactions")["redactions"]
        me = client.get("/v1/auth/me")["id"] if found and not as_json else None
    if as_json:
        # A bare list, as scripts that loop over a document's redactions expect.
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    rows = [
        {
            "id": r["id"][:8],
            "status": status_of(r),
            "kind": r["kind"],
            "category": r["category"],
            "what": describe(r),
            "proposer": who(r["proposer"], me),
            "reviewer": who(r.get("reviewer"), me),
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


def _review(
    profile: str | None, ref: str, document: str | None, path: str, body: Any, done: str
) -> dict[str, Any]:
    with open_client(profile) as client:
        rid = redaction_id_of(client, ref, document)
        answer: dict[str, Any]
        if client.key is not None and path in ("approve", "reject"):  # sealed again here
            doc_id = resolve_document(client, document) if document else None
            answer = _sealed().review(client, doc_id, rid, path, (body or {}).get("note"))
        else:
            answer = client.post(f"/v1/redactions/{rid}/{path}", body)
    say(
        f"{done} {answer['kind']} redaction {answer['id'][:8]} ({answer['category']}) of "
        f"document {answer['document'][:8]}."
    )
    return answer


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
    _review(profile, redaction, document, "approve", {"note": note} if note else None, "Approved")


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
    note = why(note, "a rejection")
    _review(profile, redaction, document, "reject", {"note": note}, "Rejected")


NoteOpt = Annotated[
    str | None,
    typer.Option(
        "--note",
        "-n",
        help="Why (required; kept, encrypted, for the case's editors).",
        show_default=False,
    ),
]


@app.command("withdraw")
def withdraw(
    redaction: RedactionArg,
    note: NoteOpt = None,
    document: DocOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Ask to withdraw an approved redaction, with a note saying why (any editor of the case).

    An approved redaction cannot be rejected: this is the way out for one that should not
    apply. It still applies to every export until another editor approves the withdrawal
    (`vault redact approve-withdrawal`); its status is "withdrawing" until then.
    """
    answer = _review(
        profile,
        redaction,
        document,
        "withdraw",
        {"note": why(note, "a withdrawal")},
        "Asked to withdraw",
    )
    say(
        "It still applies until another editor approves: "
        f"`vault redact approve-withdrawal {answer['id']}`."
    )


@app.command("approve-withdrawal")
def approve_withdrawal(
    redaction: RedactionArg,
    note: Annotated[
        str | None, typer.Option("--note", "-n", help="A note on the review (encrypted).")
    ] = None,
    document: DocOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Approve a withdrawal: four eyes, so not one you asked for yourself.

    The redaction no longer applies to exports; it stays listed as "withdrawn".
    """
    body = {"note": note} if note else None
    _review(profile, redaction, document, "withdrawal/approve", body, "Withdrew")


@app.command("reject-withdrawal")
def reject_withdrawal(
    redaction: RedactionArg,
    note: NoteOpt = None,
    document: DocOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Reject a withdrawal, with a note saying why: the redaction stays approved."""
    body = {"note": why(note, "a rejection")}
    _review(profile, redaction, document, "withdrawal/reject", body, "Kept")


# -- preview ----------------------------------------------------------------------------------


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
    «…», proposed in «?…?» and, with --all, rejected in «-…-». A redaction whose withdrawal
    awaits review still applies and is marked as approved; a withdrawn one is marked as
    rejected. Region redactions are listed after the text, on standard error with the legend.
    """
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        if client.key is not None:  # end to end: the text read and the records opened here
            shown, found = _sealed().text_of(client, doc_id), _sealed().listed(client, doc_id)
        else:
            shown = client.get(f"/v1/documents/{doc_id}/text")
            found = client.get(f"/v1/documents/{doc_id}/redactions")["redactions"]
    render(shown, found, show_all=show_all)
