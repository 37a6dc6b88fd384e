"""``vault docs``: Review documents: list, inspect, download, read, upload, delete.

Every command talks to the server through ``vault.cli.client.Client``; the server decides what
the reviewer may see. What this module adds is what a terminal needs: names for ids (a case by
its name, a source by its pseudonym, a document by a unique prefix of its id, like git), tables,
and transfers (``vault.cli.remote.transfer``) that only ever leave a complete, verified file behind.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.markup import escape

from vault.cli.client import Client
from vault.cli.output import AsJson, emit, emit_one, printable, progress, say, when
from vault.cli.remote import reading, uploading
from vault.cli.remote.lookup import (
    as_uuid,
    case_id_of,
    documents_of,
    pseudonyms,
    resolve_case,
    resolve_document,
    source_id_of,
)
from vault.cli.remote.session import ProfileOpt, open_client
from vault.cli.remote.transfer import (
    human_size,
    read_whole,
    safe_filename,
    save,
    to_stdout,
)
from vault.errors import (
    Conflict,
    InvalidInput,
    LimitExceeded,
    NotFound,
    NotText,
)

__all__ = [
    "READ_LIMIT",
    "app",
]

app = typer.Typer(
    help="Review documents: list, inspect, download, read, upload, delete.",
    no_args_is_help=True,
)

READ_LIMIT = 20 << 20  # `vault docs read` holds the whole text in memory to page it

DocumentArg = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="The document's id, or a unique prefix of it (at least 4 characters).",
        show_default=False,
    ),
]


# -- presentation -----------------------------------------------------------------------------


def _title(doc: Mapping[str, Any]) -> str:
    return "(pending)" if doc.get("pending") else str(doc.get("title") or "-")


def _row(doc: Mapping[str, Any], pseudonyms: Mapping[str, str], case_name: str) -> dict[str, Any]:
    source = doc.get("source")
    row = {
        "id": doc["id"][:8],
        "title": _title(doc),
        "kind": doc.get("kind"),
        "size": human_size(doc.get("size")) if doc.get("size") is not None else None,
        "created": (when(doc.get("created_at")) or "-"),
        "source": pseudonyms.get(source, source[:8]) if source else None,
        "case": case_name,
    }
    return row


# -- commands ---------------------------------------------------------------------------------


def _case_listing(
    client: Client, case_id: str, source: str | None, *, names: bool
) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    """One case's documents (from ``source``, an id or a pseudonym, if given) and, when
    ``names`` or needed to find the source, its sources' pseudonyms by id. ``None`` when the
    case has no source of that pseudonym."""
    source_id = as_uuid(source) if source is not None else None
    names_by_id: dict[str, str] = {}
    if names or (source is not None and source_id is None):
        names_by_id = pseudonyms(client, case_id)
    if source is not None and source_id is None:
        source_id = next((i for i, p in names_by_id.items() if p == source), None)
        if source_id is None:
            return None
    return documents_of(client, case_id, source_id), names_by_id


@app.command("ls")
def ls(
    case: Annotated[
        str | None,
        typer.Option(
            "--case",
            "-c",
            help="Only this case (id or name). Default: all your cases.",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", "-s", help="Only documents from this source (id or pseudonym)."),
    ] = None,
    as_json: AsJson = False,
    profile: ProfileOpt = None,
) -> None:
    """List the documents of a case, or of every case you belong to, oldest first.

    Documents stored before you joined a case are listed as (pending) until a member grants
    you their key. With --json: {"documents": [...]}, each with the API's fields and full ids.
    """
    documents: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    skipped, source_seen = 0, source is None or as_uuid(source) is not None
    with open_client(profile) as client:
        cases = [resolve_case(client, case)] if case else client.get("/v1/cases")["cases"]
        for entry in cases:
            try:
                listed = _case_listing(client, entry["id"], source, names=not as_json)
            except NotFound:
                if case:
                    raise
                skipped += 1  # an administrator sees every case, but not its documents
                continue
            if listed is None:
                continue  # no source of that pseudonym in this case
            found, pseudonyms = listed
            source_seen = True
            documents.extend(found)
            rows.extend(_row(d, pseudonyms, entry["name"]) for d in found)
    where = f"case '{cases[0]['name']}'" if case else "your cases"
    if not source_seen:
        raise NotFound(f"no source '{source}' in {where} (see `vault sources ls`)")
    columns = [
        ("id", "ID"),
        ("title", "TITLE"),
        ("kind", "KIND"),
        ("size", "SIZE"),
        ("created", "CREATED (UTC)"),
        ("source", "SOURCE"),
    ]
    if not case:
        columns.insert(1, ("case", "CASE"))
    emit(
        documents if as_json else rows,
        columns,
        as_json=as_json,
        key="documents",
        empty=f"No documents in {escape(where)}.",
    )
    if skipped and not as_json:
        plural = "case" if skipped == 1 else "cases"
        say(f"[dim]{skipped} {plural} not listed: you are not a member.[/]")


@app.command("show")
def show(document: DocumentArg, as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """Show a document's metadata (with --json: the server's answer as is; in an end-to-end
    session, the record opened here, in the same shape)."""
    with open_client(profile) as client:
        doc = reading.metadata(client, resolve_document(client, document))
        if as_json:
            emit_one(doc, [], as_json=True)
            return
        case_id = doc["case"]
        case_name = case_id
        with contextlib.suppress(NotFound):
            case_name = f"{client.get(f'/v1/cases/{case_id}')['name']} ({case_id})"
        source = doc.get("source")
        if source:
            with contextlib.suppress(NotFound):
                pseudonym = pseudonyms(client, doc["case"]).get(source)
                source = f"{pseudonym} ({source})" if pseudonym else source
    size = doc.get("size")
    view = {
        **doc,
        "title": _title(doc),
        "case": case_name,
        "source": source,
        "size": None if size is None else f"{human_size(size)} ({size} bytes)",
        "created_at": (when(doc.get("created_at")) or "-") + " UTC",
    }
    fields = [
        ("id", "id"),
        ("title", "title"),
        ("case", "case"),
        ("filename", "filename"),
        ("media_type", "media type"),
        ("size", "size"),
        ("sha256", "sha256"),
        ("kind", "kind"),
        ("source", "source"),
        ("uploader", "uploader"),
        ("created_at", "created"),
        ("pending", "pending"),
        ("notes", "notes"),
    ]
    emit_one(
        {k: printable(v) if isinstance(v, str) else v for k, v in view.items()},
        fields,
        as_json=False,
    )


@app.command("get")
def get(
    document: DocumentArg,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE|DIR|-",
            help="Where to save it: a file, a directory, or - for standard output. "
            "Default: the document's filename in the current directory.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite the file if it exists.")
    ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Download a document and verify its SHA-256 digest.

    The file (mode 0600) appears only once the whole content arrived and matched the server's
    digest; on a mismatch or an interrupted download nothing is left behind and the exit
    status is 5. With -o - the content streams to standard output as it arrives, so a consumer
    MUST check the exit status: anything but 0 means the bytes are not to be trusted.
    """
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        if output == "-":
            with reading.content(client, doc_id) as found:
                to_stdout(found.body, found.size)
            return
        target = Path(output) if output else Path()
        if output is None or target.is_dir():
            name = reading.filename(client, doc_id)
            target = target / safe_filename(name, fallback=doc_id)
        if os.path.lexists(target) and not force:
            raise Conflict(f"{target} already exists (use --force to overwrite it)")
        with reading.content(client, doc_id) as found:
            written = save(found.body, target, found.size, force=force)
    say(f"Saved {escape(str(target))} ({human_size(written)}, SHA-256 verified).")


@app.command("read")
def read(
    document: DocumentArg,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Show content even if it is not text.")
    ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Read a text document in your pager ($PAGER; without a terminal, print it).

    Content that is not text (not text/* and not UTF-8, or containing NUL bytes) is refused
    unless --force; so are texts over 20 MiB: save those with `vault docs get`. On a terminal,
    control characters are shown as U+FFFD so that a document cannot drive your terminal.
    """
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        short = doc_id[:8]
        too_big = LimitExceeded(
            f"document {short} is larger than {human_size(READ_LIMIT)}: "
            f"save it with `vault docs get {short}`"
        )
        with reading.content(client, doc_id) as found:
            media_type = found.media_type
            data = read_whole(found.size, found.body, READ_LIMIT, too_big)
    try:
        text = data.decode("utf-8")
        is_text = "\x00" not in text
    except UnicodeDecodeError:
        text, is_text = data.decode("utf-8", errors="replace"), False
    if not media_type.startswith("text/") and not is_text and not force:
        raise NotText(
            f"document {short} is not text ({media_type}): save it with "
            f"`vault docs get {short}`, or show it anyway with --force"
        )
    if sys.stdout.isatty():
        click.echo_via_pager(printable(text))
    else:
        sys.stdout.buffer.write(bytes(data))
        sys.stdout.flush()


@app.command("put")
def put(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            metavar="FILE",
            readable=True,
            help="The file to upload.",
            show_default=False,
        ),
    ],
    case: Annotated[
        str, typer.Option("--case", "-c", help="The case (id or name).", show_default=False)
    ],
    title: Annotated[str, typer.Option("--title", "-t", help="A title.", show_default=False)],
    source: Annotated[
        str | None,
        typer.Option("--source", "-s", help="The source it came from (id or pseudonym)."),
    ] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="Free notes (encrypted).")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="A label such as statement or contract.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the server's answer as JSON.")
    ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Upload a file into a case: encrypted by the server as it arrives, or, in an end-to-end
    session (`vault login --end-to-end`), encrypted here for the case's readers, whose keys are
    checked against the access log first (exit 5 if the server names another key).

    Prints the new document's id on standard output and, on standard error, the receipt: the
    index of the access-log entry that records the upload, and the file's SHA-256 (checked
    against what the server received or, end to end, the entry against what was sent: exit 5
    if they differ).
    """
    media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    with open_client(profile) as client:
        case_id = case_id_of(client, case)
        source_id = source_id_of(client, case_id, source) if source is not None else None
        try:
            raw = file.open("rb")
        except OSError as exc:
            raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None
        with raw, progress(f"Uploading {file.name}", file.stat().st_size) as step:
            answer = uploading.upload_file(
                client,
                raw,
                name=file.name,
                case_id=case_id,
                title=title,
                media_type=media_type,
                optional={"source": source_id, "kind": kind, "notes": notes},
                progress=step,
            )
    if as_json:
        emit_one(answer, [], as_json=True)
    else:
        typer.echo(answer["id"])
    mode = ", end to end" if "ciphertext_sha256" in answer else ""
    say(
        f"Uploaded {escape(file.name)} ({human_size(answer['size'])}) as {answer['id']}{mode}.\n"
        f"Receipt: access-log entry {answer['log_index']}, SHA-256 {answer['sha256']}"
    )


@app.command("log")
def history(document: DocumentArg, as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """Who did what to a document, oldest first, from the access log (for its case's editors and
    administrators, and for the journalist who uploaded it).

    With --json: {"entries": [{"index", "time", "actor", "action", "outcome"}, ...]}.
    """
    with open_client(profile) as client:
        found = client.get(f"/v1/documents/{resolve_document(client, document)}/access-log")
    entries: list[dict[str, Any]] = found["entries"]
    rows = [{**e, "time": when(e["time"])} for e in entries]
    emit(
        entries if as_json else rows,
        [
            ("index", "ENTRY"),
            ("time", "TIME (UTC)"),
            ("actor", "WHO"),
            ("action", "ACTION"),
            ("outcome", "OUTCOME"),
        ],
        as_json=as_json,
        key="entries",
        empty="No entries.",
    )


@app.command("rm")
def rm(
    document: DocumentArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    profile: ProfileOpt = None,
) -> None:
    """Crypto-shred a document: destroy its keys and content, for good.

    Editors of the document's case only. Asks for confirmation unless --yes, which is required
    when standard input is not a terminal.
    """
    if not yes and not sys.stdin.isatty():
        raise InvalidInput("refusing to delete without confirmation: pass --yes")
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        if not yes:
            doc = client.get(f"/v1/documents/{doc_id}")
            question = (
                f"Crypto-shred document {doc_id[:8]} {_title(doc)!r}? "
                "Its keys and content are destroyed; this cannot be undone."
            )
            if not typer.confirm(question, default=False, err=True):
                say("Nothing was deleted.")
                raise typer.Exit(1)
        client.delete(f"/v1/documents/{doc_id}")
    say(f"Deleted document {doc_id}: its keys and content are destroyed.")
