"""``vault init``, ``vault migrate`` and ``vault fsck``: making, upgrading and checking a data
directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from vault.cli.errors import INTEGRITY as EXIT_INTEGRITY
from vault.cli.local.options import DataDir, PassphraseFile, load_settings
from vault.cli.prompts import read_passphrase

# The database layer is imported inside the commands that use it, so that `vault --help` and
# the review commands (which only talk HTTP) start quickly.
if TYPE_CHECKING:
    from vault.services import fsck as fsck_service

__all__ = ["register"]


def init(
    admin: Annotated[str, typer.Option("--admin", help="Username of the first administrator.")],
    data_dir: DataDir = None,
    passphrase_file: PassphraseFile = None,
    recovery_shares: Annotated[
        int | None, typer.Option("--recovery-shares", help="How many recovery shares (n).")
    ] = None,
    recovery_threshold: Annotated[
        int | None,
        typer.Option("--recovery-threshold", help="How many shares rebuild the key (k)."),
    ] = None,
    recovery_out: Annotated[
        Path | None,
        typer.Option(
            "--recovery-out",
            help="Write each share to its own file (mode 0600) in this directory "
            "instead of printing them.",
        ),
    ] = None,
) -> None:
    """Create a new vault: data directory, database, first administrator, recovery shares."""
    settings = load_settings(data_dir).with_overrides(
        recovery_shares=recovery_shares, recovery_threshold=recovery_threshold
    )
    settings.validate()
    if settings.recovery_threshold == 1:
        Console(stderr=True).print(
            "[bold red]warning[/]: a recovery threshold of 1 puts every document in the hands "
            "of whoever holds the single share"
        )
    passphrase = read_passphrase(passphrase_file, confirm=True, label=f"Passphrase for {admin}")
    from vault.initialise import init_vault

    result = init_vault(settings, admin=admin, passphrase=passphrase, recovery_out=recovery_out)
    out = Console()
    err = Console(stderr=True)
    err.print(f"Created a vault in {settings.data_dir} with administrator [bold]{admin}[/].")
    count = len(result.mnemonics)
    if result.share_files:
        err.print(
            f"Wrote {count} recovery shares (any {result.threshold} rebuild the key) to "
            f"{recovery_out}:"
        )
        for path in result.share_files:
            err.print(f"  {path}")
        err.print("Give each share to a different person and delete these files.")
    else:
        err.print(
            f"[bold yellow]Recovery shares[/] — any {result.threshold} of these {count} rebuild "
            "the organisation recovery key. They are shown this once and stored nowhere: give "
            "each to a different person."
        )
        for number, mnemonic in enumerate(result.mnemonics, start=1):
            out.print(f"share {number}/{count}: {mnemonic}", soft_wrap=True, highlight=False)
    if result.totp_uri is not None:
        err.print(
            "Two-factor authentication is required for administrators. Add this URI to an "
            "authenticator app (shown once):"
        )
        out.print(result.totp_uri, soft_wrap=True, highlight=False)
    err.print(f"Check it with: vault fsck --data-dir {settings.data_dir}")


def fsck(
    data_dir: DataDir = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Remove orphan blobs and rows whose blob is gone.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Check that the database and the blob store agree and that every sealed record verifies
    (exit 1 if they do not, 5 if a record was changed outside the vault)."""
    settings = load_settings(data_dir)
    from vault.instance import Vault
    from vault.services import fsck as fsck_service

    # Checking writes nothing, so a read-only snapshot can be checked; repairing needs to write.
    vault = Vault.open(settings, read_only=not repair)
    try:
        report = fsck_service.check(vault.engine, vault.blobs, repair=repair)
    finally:
        vault.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "clean": report.clean,
                    "repaired": report.repaired,
                    "documents": report.documents,
                    "blobs": report.blobs,
                    "orphan_blobs": report.orphan_blobs,
                    "recent_orphan_blobs": report.recent_orphans,
                    "partial_files": report.partial_files,
                    "missing_blobs": [str(d) for d in report.missing_blobs],
                    "seals_checked": report.seals_checked,
                    "broken_seals": [
                        {"table": table, "record": record, "seal": what}
                        for table, record, what in report.broken_seals
                    ],
                    "unwitnessed_redactions": [
                        {"record": record, "problem": what, "detail": detail}
                        for record, what, detail in report.unwitnessed
                    ],
                },
                indent=2,
            )
        )
    else:
        _print_report(report)
    if report.broken_seals or report.unwitnessed:
        # Whatever --repair did: these records are never sealed again by it.
        raise typer.Exit(EXIT_INTEGRITY)
    if not report.clean and not (repair and report.seals_checked):
        raise typer.Exit(1)


def _print_report(report: fsck_service.FsckReport) -> None:
    console = Console()
    console.print(f"{report.documents} documents, {report.blobs} blobs")
    if report.clean and not report.recent_orphans:
        console.print("[green]ok[/]: every document has its blob and every blob its document")
        return
    # Never truncate or wrap an id: the operator has to be able to copy and search for it.
    table = Table("problem", Column("id", no_wrap=True), "action")
    done = "removed" if report.repaired else "run with --repair to remove"
    for blob_id in report.orphan_blobs:
        table.add_row("orphan blob", blob_id, done)
    for name in report.partial_files:
        table.add_row("unfinished write", name, done)
    for doc_id in report.missing_blobs:
        table.add_row("document without blob", str(doc_id), done)
    for blob_id in report.recent_orphans:
        table.add_row("recent orphan blob", blob_id, "kept: may be an upload in progress")
    for name, record, what in report.broken_seals:
        problem = (
            f"{name} record {'without seal' if what == 'missing' else 'not matching its seal'}"
        )
        table.add_row(problem, record, "changed outside the vault: left as it is, never resealed")
    for record, _, detail in report.unwitnessed:
        table.add_row(f"redaction not as logged: {detail}", record, "changed outside the vault")
    if not report.seals_checked:
        table.add_row("seal key file missing", "-", "records not checked against their seals")
    console.print(table)


def migrate(
    data_dir: DataDir = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Only say whether an upgrade is due (exit 1 if it is)."),
    ] = False,
) -> None:
    """Upgrade an existing vault's database schema to this version's (after installing a new
    release, before `vault serve`). Stop every server of the vault first; take a backup."""
    settings = load_settings(data_dir)
    from vault.instance import Vault

    current, head = Vault.migrate(settings, check=check)
    err = Console(stderr=True)
    if current == head:
        err.print(f"The schema is at revision {head}, this version's: nothing to do.")
        return
    if check:
        err.print(
            f"The schema is at revision {current}; `vault migrate` would upgrade it to {head}."
        )
        raise typer.Exit(1)
    err.print(f"Upgraded the schema from revision {current} to {head}.")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(migrate)
    app.command()(fsck)
