"""``vault backup``, ``vault backup verify`` and ``vault restore``: verified backups of a local
data directory (``docs/operations.md``, "Backups").

Messages and progress go to stderr; stdout carries only what a script needs (the one-line
result of ``verify``, the JSON of ``--json``). The backup modules load the database layer, so
they are imported inside the commands.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from vault.cli.local.options import DataDir, load_settings
from vault.cli.output import err
from vault.errors import InvalidInput

__all__ = ["app", "register", "restore"]

app = typer.Typer(
    help="Back up a vault while it runs (`vault backup -o FILE`), or check a backup.",
)

PublicKey = Annotated[
    str | None,
    typer.Option(
        "--log-public-key",
        help="The vault's verifier key (`GET /v1/audit/key`), kept apart from the backups: the "
        "manifest must be signed by it. Without it, only the archive's own consistency is "
        "checked.",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A byte progress bar while stderr is a terminal; otherwise nothing."""
    if not sys.stderr.isatty():
        yield lambda _done, _total: None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err(),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _unpinned_warning() -> None:
    err().print(
        "[bold yellow]note[/]: no --log-public-key given: the manifest was checked against the "
        "log key inside the backup itself, which proves the archive is consistent, not that it "
        "is this vault's. Pin the key the vault publishes to prove that."
    )


@app.callback(invoke_without_command=True)
def backup(
    ctx: typer.Context,
    data_dir: DataDir = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The archive to write (must not exist)."),
    ] = None,
    include_log_key: Annotated[
        bool,
        typer.Option(
            "--include-log-key",
            help="DANGEROUS: put log-seal.key in the archive too (a full-disaster copy: "
            "whoever holds it can sign checkpoints). Keep it apart instead.",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Back up the vault while its servers run: database snapshot, every document's blob, a
    manifest of digests signed with the access log's key. The log seal key and the recovery
    shares are not included (see `--include-log-key`)."""
    if ctx.invoked_subcommand is not None:
        return
    if output is None:
        raise InvalidInput("give the archive to write: vault backup -o FILE")
    from vault.backup.create import create_backup

    settings = load_settings(data_dir)
    console = err()
    if include_log_key:
        console.print(
            "[bold red]warning[/]: --include-log-key puts log-seal.key in the archive: whoever "
            "holds this backup can sign the vault's checkpoints. Keep it offline, apart from "
            "ordinary backups."
        )
    with _progress("Backing up") as step:
        result = create_backup(settings, output, include_log_key=include_log_key, progress=step)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "path": str(result.path),
                    "size": result.size,
                    "documents": result.documents,
                    "log_size": result.log_size,
                    "manifest_sha256": result.manifest_sha256,
                    "shredded_during_backup": list(result.shredded),
                    "log_key_included": result.log_key_included,
                },
                indent=2,
            )
        )
    console.print(
        f"Backed up {result.documents} documents and {result.log_size} log entries to "
        f"{result.path} ({result.size} bytes); manifest SHA-256 {result.manifest_sha256}."
    )
    if result.shredded:
        console.print(
            f"{len(result.shredded)} document(s) were shredded while the backup ran; a restore "
            "deletes them too."
        )
    if not include_log_key:
        console.print(
            "The log seal key is not in the archive: a restore needs it (--log-key-file)."
        )


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="The backup archive.")],
    log_public_key: PublicKey = None,
    as_json: AsJson = False,
) -> None:
    """Check a backup without restoring it: every member's digest, the signed manifest, and the
    access log against its signed checkpoint (exit 5 if anything does not verify)."""
    import shutil
    import tempfile

    from vault.backup.verify import check_archive

    work = Path(tempfile.mkdtemp(prefix="vault-backup-verify-"))  # mode 0700
    try:
        with _progress("Verifying") as step:
            total = file.stat().st_size if file.is_file() else 0
            done = 0

            def advance(n: int) -> None:
                nonlocal done
                done += n
                step(done, total)

            checked = check_archive(file, work, pinned_vkey=log_public_key, progress=advance)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest = checked.manifest
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "pinned_key": checked.pinned,
                    "verifier_key": checked.vkey,
                    "created": manifest.created,
                    "documents": manifest.documents,
                    "log_size": checked.log_size,
                    "manifest_sha256": checked.manifest_sha256,
                    "log_key_included": manifest.log_key_included,
                    "shredded_during_backup": list(manifest.shredded),
                },
                indent=2,
            )
        )
    else:
        typer.echo(
            f"ok: {manifest.documents} documents and {checked.log_size} log entries verify, "
            f"signed by {checked.vkey} ({'pinned' if checked.pinned else 'NOT pinned'})"
        )
    if not checked.pinned:
        _unpinned_warning()


def restore(
    file: Annotated[Path, typer.Argument(help="The backup archive.")],
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", help="The new data directory (must not exist, or be empty)."),
    ],
    log_key_file: Annotated[
        Path | None,
        typer.Option(
            "--log-key-file",
            help="The vault's log-seal.key, kept apart from the backups (needed unless the "
            "backup was made with --include-log-key).",
        ),
    ] = None,
    log_public_key: PublicKey = None,
) -> None:
    """Restore a backup into a new data directory. Everything is verified before anything is
    written to it; with VAULT_DATABASE_URL, into that (empty) database."""
    from vault.backup.restore import restore_backup

    settings = load_settings(data_dir)
    with _progress("Restoring") as step:
        result = restore_backup(
            file,
            settings,
            log_key_file=log_key_file,
            pinned_vkey=log_public_key,
            progress=step,
        )
    console = err()
    console.print(
        f"Restored {result.documents} documents into {result.data_dir}; the access log "
        f"({result.log_size} entries) verified and records the restore. Check it with: "
        f"vault fsck --data-dir {result.data_dir}"
    )
    if result.shredded:
        console.print(
            f"{len(result.shredded)} document(s) shredded during the backup were deleted."
        )
    if not result.pinned:
        _unpinned_warning()


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="backup")
    main.command()(restore)
