"""``vault retention``: delete what the cases' retention periods say is due, on the server.

Runs on the data directory like `vault users`: no member's key is needed to crypto-shred, so
the server does it as the ``system`` actor, each deletion recorded as ``retention.delete``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from vault.cli.local.options import DataDir, load_settings
from vault.cli.output import emit, say

__all__ = ["app"]

app = typer.Typer(
    help="Retention: crypto-shred what is due (administrators, on the server).",
    no_args_is_help=True,
)


@app.command("run")
def run(
    data_dir: DataDir = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what is due and delete nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of a table.")
    ] = False,
) -> None:
    """Crypto-shred every document whose case's retention period is over.

    Documents under legal hold (theirs or their case's) are listed as held and kept. With
    --dry-run nothing is deleted or recorded. With --json: {"dry_run", "deleted", "held",
    "documents": [{"document", "case", "case_name", "uploaded_at", "due_at", "outcome"}]},
    outcome being deleted, due (a dry run), held or skipped (gone or no longer due meanwhile).
    """
    from vault.instance import Vault
    from vault.services.retention import Outcome

    vault = Vault.open(load_settings(data_dir))
    try:
        report = vault.retention.run(dry_run=dry_run)
    finally:
        vault.close()
    rows: list[dict[str, Any]] = [
        {
            "document": str(item.due.document_id),
            "case": str(item.due.case_id),
            "case_name": item.due.case_name,
            "uploaded_at": _stamp(item.due.uploaded_at),
            "due_at": _stamp(item.due.due_at),
            "outcome": item.outcome.value,
        }
        for item in report.items
    ]
    deleted, held = report.count(Outcome.DELETED), report.count(Outcome.HELD)
    if as_json:
        summary = {"dry_run": dry_run, "deleted": deleted, "held": held, "documents": rows}
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    emit(
        [{**r, "due": r["due_at"][:16].replace("T", " ")} for r in rows],
        [
            ("document", "DOCUMENT"),
            ("case_name", "CASE"),
            ("due", "DUE (UTC)"),
            ("outcome", "OUTCOME"),
        ],
        as_json=False,
        key="documents",
        empty="Nothing is due.",
    )
    if dry_run:
        due = report.count(Outcome.DUE)
        say(f"Dry run: {due} document(s) would be deleted, {held} held; nothing was changed.")
    elif rows:
        say(f"Deleted {deleted} document(s); {held} kept under legal hold.")


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
