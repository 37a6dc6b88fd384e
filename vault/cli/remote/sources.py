"""``vault sources``: Sources: pseudonyms, and identity notes for their handler.

A source is known by a generated pseudonym. Their identity notes, and the names and aliases
that ``vault redact suggest`` looks for in documents, are encrypted for the handler (who
recorded the source) and the recovery key only, and each reading is recorded in the access log
with its reason. Neither ever travels on the command line, where shell history and the process
list would keep them: they come from a file or standard input.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from vault.cli.output import AsJson, emit, emit_one, printable, say, when
from vault.cli.remote import sealed_sources
from vault.cli.remote.lookup import as_uuid, by_prefix, resolve_case
from vault.cli.remote.session import ProfileOpt, open_client
from vault.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from vault.cli.client import Client

__all__ = ["app"]

app = typer.Typer(
    help="Sources: pseudonyms, and identity notes for their handler.", no_args_is_help=True
)


def _visible_sources(
    client: Client, cases: list[dict[str, Any]], *, strict: bool
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], int]:
    """(case, source) pairs of ``cases``, and how many cases could not be listed (an
    administrator sees every case but the sources of none they do not belong to). With
    ``strict`` a refused case is an error instead."""
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    skipped = 0
    for case in cases:
        try:
            sources = client.get("/v1/sources", case=case["id"])["sources"]
        except NotFound:
            if strict:
                raise
            skipped += 1
            continue
        found.extend((case, s) for s in sources)
    return found, skipped


def _resolve_source(client: Client, ref: str) -> str:
    """The id of the source ``ref`` names: a full id as is (no request), else a pseudonym or a
    unique prefix of an id (at least four characters) among the sources of your cases."""
    as_id = as_uuid(ref)
    if as_id is not None:
        return as_id
    wanted = ref.strip().lower()
    cases = client.get("/v1/cases")["cases"]
    pairs, _ = _visible_sources(client, cases, strict=False)
    named: set[str] = {s["id"] for _, s in pairs if s["pseudonym"] == wanted}
    if named:
        return named.pop()  # pseudonyms are unique
    if any(ch not in "0123456789abcdef-" for ch in wanted):
        raise NotFound(f"no source '{ref}' in your cases (see `vault sources ls`)")
    return by_prefix(ref, (s["id"] for _, s in pairs), "source")


@app.command("ls")
def ls(
    case: Annotated[
        str | None,
        typer.Option(
            "--case",
            "-c",
            help="Only this case (id or name). Default: every case you belong to.",
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
    profile: ProfileOpt = None,
) -> None:
    """List sources by pseudonym (never their identity).

    With --json: {"sources": [{"id", "case", "pseudonym", "handler", "has_identity_notes",
    "created_at"}, ...]} as the server answers, with full ids.
    """
    with open_client(profile) as client:
        cases = [resolve_case(client, case)] if case else client.get("/v1/cases")["cases"]
        pairs, skipped = _visible_sources(client, cases, strict=case is not None)
        me = client.get("/v1/auth/me")["id"] if pairs and not as_json else None
    rows = [
        {
            "pseudonym": s["pseudonym"],
            "id": s["id"],
            "case": c["name"],
            "handler": (
                "you"
                if s["handler"] == me
                else "recovery"
                if s["handler"] is None
                else s["handler"][:8]
            )
            + (" (waiting)" if s.get("handover_pending") else ""),
            "notes": s["has_identity_notes"],
            "created": when(s["created_at"]),
        }
        for c, s in pairs
    ]
    columns = [
        ("pseudonym", "PSEUDONYM"),
        ("id", "ID"),
        ("handler", "HANDLER"),
        ("notes", "IDENTITY NOTES"),
        ("created", "CREATED (UTC)"),
    ]
    if not case:
        columns.insert(2, ("case", "CASE"))
    where = f"case '{escape(cases[0]['name'])}'" if case else "your cases"
    emit(
        [s for _, s in pairs] if as_json else rows,
        columns,
        as_json=as_json,
        key="sources",
        empty=f"No sources in {where}.",
    )
    if skipped and not as_json:
        plural = "case" if skipped == 1 else "cases"
        say(f"[dim]{skipped} {plural} not listed: you are not a member.[/]")


MAX_NAMES = 50  # the server's limits for names and aliases
NAME_LENGTH = (2, 200)


def _read_input(path: str, what: str, prompt: str) -> str:
    """The text of a file, or of standard input for ``-``; ``what`` names it in errors."""
    try:
        if path == "-":
            if sys.stdin.isatty():
                say(prompt)
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"the {what} file is not UTF-8 text") from None


def _read_notes(notes_file: str) -> str:
    """Identity notes from a file, or from standard input for ``-``."""
    prompt = "Type the identity notes, then Ctrl-D on a line of its own:"
    text = _read_input(notes_file, "notes", prompt)
    if not text.strip():
        raise InvalidInput("the identity notes are empty (leave out --notes-file for none)")
    return text


def _read_names(names_file: str) -> list[str]:
    """Names and aliases, one a line (blank lines skipped), from a file or standard input for
    ``-``; checked here against the server's limits so that no error has to quote one."""
    prompt = "Type the source's names and aliases, one a line, then Ctrl-D on a line of its own:"
    text = _read_input(names_file, "names", prompt)
    names = [" ".join(line.split()) for line in text.splitlines()]
    numbered = [(n, name) for n, name in enumerate(names, 1) if name]
    if not numbered:
        raise InvalidInput("the names file is empty (leave out --names-file for none)")
    low, high = NAME_LENGTH
    for n, name in numbered:
        if not low <= len(name) <= high:
            raise InvalidInput(f"line {n} of the names: a name must be {low}-{high} characters")
    unique = list(dict.fromkeys(name for _, name in numbered))
    if len(unique) > MAX_NAMES:
        raise InvalidInput(f"at most {MAX_NAMES} names and aliases (got {len(unique)})")
    return unique


@app.command("add")
def add(
    case: Annotated[
        str,
        typer.Option("--case", "-c", help="The case (id or name).", show_default=False),
    ],
    notes_file: Annotated[
        str | None,
        typer.Option(
            "--notes-file",
            metavar="FILE|-",
            help="Read identity notes from this file, or from standard input for -. "
            "Without it, the source has no identity notes.",
            show_default=False,
        ),
    ] = None,
    names_file: Annotated[
        str | None,
        typer.Option(
            "--names-file",
            metavar="FILE|-",
            help="Read the source's names and aliases, one a line, from this file or from "
            "standard input for -: `vault redact suggest` looks for them in documents (for "
            "you, their handler, only).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the server's answer as JSON.")
    ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Record a source in a case you belong to; you become their handler.

    Prints the new source's id and pseudonym on standard output. The identity notes and the
    names are encrypted for you and the recovery key only: no other member, and no
    administrator, can read them.
    """
    if notes_file == "-" and names_file == "-":
        raise InvalidInput("standard input can be read once: give the notes or the names in a file")
    notes = _read_notes(notes_file) if notes_file is not None else None
    names = _read_names(names_file) if names_file is not None else []
    body: dict[str, Any] = {"notes": notes}
    if names:
        body["names"] = names
    with open_client(profile) as client:
        target = resolve_case(client, case)
        answer: dict[str, Any]
        if client.key is not None:
            # An end-to-end session: sealed here, for this key and the recovery key.
            answer = sealed_sources.record_source(client, target["id"], notes, names)
        else:
            answer = client.post("/v1/sources", {"case": target["id"], **body})
    if as_json:
        emit_one(answer, [], as_json=True)
    else:
        typer.echo(f"{answer['id']} {answer['pseudonym']}")
    say(
        f"Recorded source [bold]{answer['pseudonym']}[/] in case {escape(target['name'])}; "
        "you are their handler."
    )
    if notes_file not in (None, "-"):
        say(
            f"The identity notes are now encrypted in the vault: delete {escape(str(notes_file))} "
            "if it was only for this."
        )
    if names:
        plural = "name or alias" if len(names) == 1 else "names and aliases"
        say(f"Recorded {len(names)} {plural} for redaction suggestions.")
    if names_file not in (None, "-"):
        say(
            f"The names are now encrypted in the vault: delete {escape(str(names_file))} "
            "if it was only for this."
        )


@app.command("reveal")
def reveal(
    source: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="The source's id, a unique prefix of it, or their pseudonym.",
            show_default=False,
        ),
    ],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            "-r",
            help="Why you need the identity (kept in the access log: explain the need, do not "
            "name the source).",
            show_default=False,
        ),
    ],
    profile: ProfileOpt = None,
) -> None:
    """Show a source's identity notes and recorded names (their handler only), on standard
    output: the notes as they were recorded, then, if any were, the names and aliases under a
    "Names and aliases:" line, one a line.

    The reading and its reason are recorded in the access log, which editors and auditors read.
    """
    with open_client(profile) as client:
        source_id = _resolve_source(client, source)
        try:
            if client.key is not None:
                opened = sealed_sources.reveal_source(client, source_id, reason)
                answer: dict[str, Any] = asdict(opened)
            else:
                answer = client.get(f"/v1/sources/{source_id}/identity", reason=reason)
        except InvalidInput as exc:
            raise InvalidInput(
                f"the server refused the reason ({exc}): --reason must say, in 3 to 500 "
                "characters, why you need the identity"
            ) from None
    notes = answer.get("notes")
    names: list[str] = answer.get("names") or []
    screen = sys.stdout.isatty()
    if notes is not None:
        typer.echo(printable(notes) if screen else notes, nl=not notes.endswith("\n"))
    if names:
        typer.echo("Names and aliases:")
        for name in names:
            typer.echo(f"  {printable(name) if screen else name}")
    say(
        f"Your reading of {answer['pseudonym']}'s identity notes and your reason were recorded "
        "in the access log."
    )
    if notes is None:
        say(f"No identity notes were recorded for {answer['pseudonym']}.")


@app.command("handover")
def handover(
    source: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="The source's id, a unique prefix of it, or their pseudonym.",
            show_default=False,
        ),
    ],
    to: Annotated[
        str,
        typer.Option("--to", metavar="USER", help="An approved member of the source's case."),
    ],
    profile: ProfileOpt = None,
) -> None:
    """Hand a source you handle to another member of its case: they become the handler and
    read the identity notes; your copy of the key is deleted. Recorded in the access log."""
    with open_client(profile) as client:
        source_id = _resolve_source(client, source)
        answer: dict[str, Any]
        if client.key is not None:
            # An end-to-end session: the key is wrapped here for the new handler's logged key.
            answer = sealed_sources.hand_over(client, source_id, to)
        else:
            answer = client.post(f"/v1/sources/{source_id}/handover", {"to": to})
    say(f"Handed source [bold]{answer['pseudonym']}[/] to {escape(to)}.")
