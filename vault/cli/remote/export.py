"""``vault export``: a document with its approved redactions applied, verified by the server.

Only redacted exports exist: the server applies every approved redaction, reads the result
back with independent extractors, and releases it only if none of the redacted text (and no
metadata) is left; it refuses while any redaction is still proposed. The original is
``vault docs get``. What this module adds is the download discipline of ``vault docs get``: the
file appears only once the whole export arrived and matched the server's SHA-256 digest.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode

import typer
from rich.markup import escape

from vault.cli.client import repr_digest
from vault.cli.output import emit_one, printable, say
from vault.cli.remote.lookup import resolve_document
from vault.cli.remote.session import ProfileOpt, open_client
from vault.cli.remote.transfer import human_size, save, to_stdout
from vault.errors import Conflict, IntegrityError, InvalidInput

if TYPE_CHECKING:
    from vault.cli.client import Client

__all__ = ["export", "register"]


def _query(marker: str | None, per_category: bool, keep_text_pages: bool) -> str:
    params: dict[str, str] = {"redacted": "true"}
    if marker is not None:
        params["marker"] = marker
    if per_category:
        params["per_category"] = "true"
    if keep_text_pages:
        params["keep_text_pages"] = "true"
    return urlencode(params, quote_via=quote)


def _check_marker(marker: str | None) -> None:
    if marker is not None and not (1 <= len(marker) <= 40 and "\n" not in marker):
        raise InvalidInput("--marker must be 1-40 characters on one line")


# The server's words for redactions that block an export: still proposed, or made on other content.
_IN_THE_WAY = re.compile(r"\d+ redaction\(s\) (still proposed|were made on other content): ")


def _pending_hint(exc: Conflict, doc_id: str) -> Conflict:
    """The server's 409 (which lists the redactions in the way), with the command to see them."""
    if not _IN_THE_WAY.match(str(exc)):
        return exc  # not about redactions (a document still pending for you, say)
    return Conflict(f"{exc} (see `vault redact ls {doc_id[:8]}`)")


def _leak_hint(exc: IntegrityError, doc_id: str) -> IntegrityError:
    """The server's refusal of an export that still held redacted text, with where to look:
    most often the same words left elsewhere under a span that covers one place only."""
    if exc.reason != "redaction-leak" or "is still in it" not in str(exc):
        return exc
    if "ocr (ocr)" in str(exc) and "(text)" not in str(exc):
        return IntegrityError(
            f"{exc} (text only a person can read: drawn, or inside a picture; cover it with a "
            f"region, `vault redact add {doc_id[:8]} --page N --rect X0,Y0,X1,Y1`)",
            reason=exc.reason,
        )
    return IntegrityError(
        f"{exc} (the same text left elsewhere? a span covers one place, a --text term every "
        f"occurrence: see `vault redact preview {doc_id[:8]} --all`)",
        reason=exc.reason,
    )


def _header_int(value: str | None) -> str:
    return value if value is not None and value.isdigit() else "?"


def export(
    document: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="The document's id, or a unique prefix of it (at least 4 characters).",
            show_default=False,
        ),
    ],
    redacted: Annotated[
        bool,
        typer.Option(
            "--redacted",
            help="Required: say that you want the redacted version (the only one there is).",
        ),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE|-",
            help="Where to save it, or - for standard output (required unless --store).",
            show_default=False,
        ),
    ] = None,
    marker: Annotated[
        str | None,
        typer.Option(
            "--marker",
            "-m",
            help="What replaces redacted text (default: [REDACTED]).",
            show_default=False,
        ),
    ] = None,
    per_category: Annotated[
        bool,
        typer.Option("--per-category", help="Name the category in markers: [REDACTED: legal]."),
    ] = False,
    keep_text_pages: Annotated[
        bool,
        typer.Option(
            "--keep-text-pages",
            help="PDF: keep pages without redactions as sanitised vector text instead of "
            "re-rendering every page with an OCR text layer.",
        ),
    ] = False,
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="Keep the export in the vault as a new document of the case (no file here).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite FILE if it exists.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --store: print the server's answer as JSON.")
    ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Export a document with its approved redactions applied (editors of its case).

    The server refuses while any redaction is still proposed (exit 1, naming them), and
    releases nothing if its independent check finds redacted text left (exit 5). The file
    (mode 0600) appears only once the whole export arrived and matched the server's SHA-256
    digest; an existing file is never replaced without --force. Prints the digest, the number
    of redactions applied and the access-log entry that records the export. With -o - the
    export streams to standard output: check the exit status before trusting it.
    """
    if not redacted:
        raise InvalidInput(
            "only redacted exports exist: pass --redacted (`vault docs get ID` fetches the "
            "original, for members of its case)"
        )
    _check_marker(marker)
    if store and output is not None:
        raise InvalidInput(
            "--store keeps the export in the vault: leave out -o (then `vault docs get NEW_ID`)"
        )
    if not store and output is None:
        raise InvalidInput("where to? pass -o FILE, -o - for standard output, or --store")
    target = Path(output) if output not in (None, "-") else None
    if target is not None:
        if target.is_dir():
            raise InvalidInput(f"{target} is a directory: give -o a file name")
        if os.path.lexists(target) and not force:
            raise Conflict(f"{target} already exists (use --force to overwrite it)")
    with open_client(profile) as client:
        doc_id = resolve_document(client, document)
        if client.key is not None:
            _end_to_end(client, doc_id, target, marker, per_category, keep_text_pages, store, force)
            return
        try:
            if store:
                _store(client, doc_id, marker, per_category, keep_text_pages, as_json=as_json)
                return
            path = f"/v1/documents/{doc_id}/export?{_query(marker, per_category, keep_text_pages)}"
            with client.download(path) as (response, body):
                digest = repr_digest(response)
                if digest is None:
                    raise IntegrityError(
                        "the server sent no SHA-256 digest (Repr-Digest): the export cannot be "
                        "verified",
                        reason="no-digest",
                    )
                length = response.headers.get("content-length", "")
                total = int(length) if length.isdigit() else None
                if target is None:
                    to_stdout(body, total)
                    written = None
                else:
                    written = save(body, target, total, force=force)
        except Conflict as exc:
            raise _pending_hint(exc, doc_id) from None
        except IntegrityError as exc:
            raise _leak_hint(exc, doc_id) from None
    count = _header_int(response.headers.get("vault-redactions"))
    entry = _header_int(response.headers.get("vault-log-index"))
    where = "standard output" if target is None else escape(str(target))
    size = "" if written is None else f" ({human_size(written)})"
    say(
        f"Exported document {doc_id[:8]} to {where}{size}, SHA-256 verified: {count} "
        f"redaction(s) applied.\nReceipt: access-log entry {entry}, SHA-256 {digest.hex()}"
    )
    _say_pages(
        response.headers.get("vault-pages-kept"),
        response.headers.get("vault-pages-rendered-instead"),
    )


def _end_to_end(
    client: Client,
    doc_id: str,
    target: Path | None,
    marker: str | None,
    per_category: bool,
    keep_text_pages: bool,
    store: bool,
    force: bool,
) -> None:
    """The export made and checked on this machine (an end-to-end session), recorded in the
    access log before a byte of it is released."""
    # Loaded only here: the renderers and readers are heavy, and no other command needs them.
    from vault.cli.remote import sealed_redactions
    from vault.redaction import export as export_options
    from vault.redaction.model import Markers

    if store:
        raise InvalidInput(
            "--store does not run end to end yet: save the export with -o, or log in "
            "server-side for it"
        )
    options = export_options.ExportOptions(
        markers=Markers(marker or Markers.marker, per_category), keep_text_pages=keep_text_pages
    )
    try:
        made = sealed_redactions.export_here(client, doc_id, options)
    except Conflict as exc:
        raise _pending_hint(exc, doc_id) from None
    except IntegrityError as exc:
        raise _leak_hint(exc, doc_id) from None
    if target is None:
        to_stdout(iter([made.content]), len(made.content))
        written = None
    else:
        written = save(iter([made.content]), target, len(made.content), force=force)
    where = "standard output" if target is None else escape(str(target))
    size = "" if written is None else f" ({human_size(written)})"
    say(
        f"Exported document {doc_id[:8]} to {where}{size}, made and checked here: "
        f"{made.applied} redaction(s) applied.\nReceipt: access-log entry {made.log_index}, "
        f"SHA-256 {made.sha256}"
    )


def _say_pages(kept: str | None, instead: str | None) -> None:
    """With --keep-text-pages: which pages stayed text, and which were re-rendered and why."""
    if kept:
        say(f"Kept as text: page(s) {escape(printable(kept))}.")
    if instead:
        say(f"Re-rendered instead (the sanitiser does not rebuild): {escape(printable(instead))}.")


def _store(
    client: Client,
    doc_id: str,
    marker: str | None,
    per_category: bool,
    keep_text_pages: bool,
    *,
    as_json: bool,
) -> None:
    body: dict[str, Any] = {"per_category": per_category, "keep_text_pages": keep_text_pages}
    if marker is not None:
        body["marker"] = marker
    answer: dict[str, Any] = client.post(f"/v1/documents/{doc_id}/export", body)
    if as_json:
        emit_one(answer, [], as_json=True)
    else:
        typer.echo(answer["document"])
    say(
        f"Stored the redacted export of document {doc_id[:8]} as document {answer['document']} "
        f"({answer['redactions']} redaction(s) applied).\n"
        f"Receipt: access-log entry {answer['log_index']}, SHA-256 {answer['sha256']}"
    )
    instead = answer.get("pages_rendered_instead") or {}
    _say_pages(
        ",".join(str(p) for p in answer.get("pages_kept") or []) or None,
        "; ".join(f"{page}: {why}" for page, why in instead.items()) or None,
    )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
