"""``vault hold``: legal holds on a case or on one document.

While a hold is set, nothing it covers is deleted: not by retention, not by `vault docs rm`.
Editors a reader approved in the case, and administrators, set and release holds, at a login
session; to anyone else the server answers as if the case or document did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from vault.cli.output import AsJson, emit_one, say, when
from vault.cli.remote.lookup import resolve_case, resolve_document
from vault.cli.remote.session import ProfileOpt, open_client
from vault.errors import InvalidInput, NotFound

__all__ = ["app"]

app = typer.Typer(
    help="Legal holds: keep a case or a document from any deletion.", no_args_is_help=True
)

CaseOpt = Annotated[
    str | None, typer.Option("--case", metavar="CASE", help="The case's id or name.")
]
DocOpt = Annotated[
    str | None,
    typer.Option("--doc", metavar="ID", help="The document's id, or a unique prefix of it."),
]


def _change(case: str | None, doc: str | None, *, held: bool, profile: str | None) -> Any:
    if (case is None) == (doc is None):
        raise InvalidInput("give either --case CASE or --doc ID")
    with open_client(profile) as client:
        if case is not None:
            target = resolve_case(client, case)
            path, name = f"/v1/cases/{target['id']}/hold", f"case {escape(target['name'])}"
        else:
            doc_id = resolve_document(client, doc or "")
            path, name = f"/v1/documents/{doc_id}/hold", f"document {doc_id}"
        try:
            answer = client.request("PUT" if held else "DELETE", path).json()
        except NotFound as refused:
            raise NotFound(
                f"{refused} (holds are for editors of the case and administrators, at a login "
                "session)"
            ) from None
    return answer, name


@app.command("set")
def set_hold(
    case: CaseOpt = None, doc: DocOpt = None, as_json: AsJson = False, profile: ProfileOpt = None
) -> None:
    """Put a case (--case) or one document (--doc) under legal hold.

    Nothing it covers is deleted until the hold is released; the hold is recorded in the
    access log (`hold.set`). With --json: {"target", "id", "held_at", "changed"}.
    """
    answer, name = _change(case, doc, held=True, profile=profile)
    if as_json:
        emit_one(answer, [], as_json=True)
    already = "" if answer["changed"] else " already"
    say(f"The {name} is{already} under legal hold since {when(answer['held_at'])} UTC.")


@app.command("release")
def release(
    case: CaseOpt = None, doc: DocOpt = None, as_json: AsJson = False, profile: ProfileOpt = None
) -> None:
    """Release the legal hold on a case (--case) or one document (--doc).

    Retention deletes what is due at its next run. Releasing a case leaves documents held one
    by one held, and releasing a document leaves its case's hold in place. Recorded in the
    access log (`hold.release`).
    """
    answer, name = _change(case, doc, held=False, profile=profile)
    if as_json:
        emit_one(answer, [], as_json=True)
    say(f"The {name} is not under legal hold" + ("." if answer["changed"] else " (it was not)."))
