"""``vault demo``: a throwaway vault on this machine, and the review it exists for.

The demo makes a vault in a fresh temporary directory (mode 0700) on the embedded SQLite
database, serves the API from this process on 127.0.0.1, creates an administrator, a journalist
and two editors with generated passphrases, and plays one review: the journalist records a source
and uploads two documents over HTTP, the editor lists the case and reads the testimony through
the CLI's own client, and the testimony's access history shows both of them. Then the editor
proposes redactions of the note-taker's name and phone number in the programme (a PDF), a second
editor approves them, and the redacted programme is exported and checked once more here. Every
name, place and event in the material is invented.

Nothing of it outlives the command. The server runs in a thread of this process (no child
process can be orphaned); on Ctrl-C, SIGTERM, SIGHUP or any error it is stopped and the
directory is deleted. The server's JSON logs go to a file inside that directory, never to the
terminal. The demo vault's settings are its own: the ``VAULT_*`` environment is not read, so a
``VAULT_DATABASE_URL`` meant for a real vault is never touched.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from vault.cli.local.demo_server import (
    Server,
    listen,
    server_logs,
    signals_interrupt,
    uninterrupted,
)
from vault.cli.local.demo_story import CASE, Cast, new_cast, recover, review
from vault.crypto import Argon2Params
from vault.errors import StorageError
from vault.roles import Role
from vault.settings import Settings

# The web layer (api, uvicorn) is loaded by vault.cli.local.demo_server when the server starts, and
# the HTTP client by vault.cli.local.demo_story: `vault --help` and every other command load without
# them.
if TYPE_CHECKING:
    from vault.instance import Vault

__all__ = ["demo", "register"]

PROFILE = "demo"


def _settings(root: Path) -> Settings:
    """The demo vault's settings: the embedded default, no one-time codes (this vault lives for
    minutes), and Argon2id at the vault's floor, never below it."""
    settings = Settings(
        data_dir=root / "data",
        totp_required_roles="",
        argon2_memory_kib=Argon2Params.FLOOR_MEMORY_KIB,
        argon2_time_cost=Argon2Params.FLOOR_TIME_COST,
        argon2_lanes=Argon2Params.FLOOR_LANES,
    )
    settings.validate()
    return settings


def _create_vault(settings: Settings, cast: Cast) -> tuple[Vault, list[str]]:
    """The vault, and its recovery shares (handed to the story's share holders)."""
    from vault.initialise import init_vault
    from vault.instance import Vault

    admin, *others = cast
    made = init_vault(settings, admin=admin.username, passphrase=admin.passphrase)
    vault = Vault.open(settings)
    try:
        for person in others:
            vault.users.create_account(
                None, username=person.username, role=Role(person.role), passphrase=person.passphrase
            )
    except BaseException:
        vault.close()
        raise
    return vault, made.mnemonics


def _next_steps(
    out: Console, url: str, cast: Cast, root: Path, testimony: str, agenda: str
) -> None:
    _, _, editor, _ = cast
    out.print()
    out.print(f"[bold]The demo vault is running at {url}[/]")
    table = Table(box=None, header_style="bold", pad_edge=False)
    for heading in ("username", "role", "passphrase"):
        table.add_column(heading)
    for person in cast:
        table.add_row(person.username, person.role, person.passphrase)
    out.print(table)
    out.print()
    out.print(
        "[bold]Next commands to try[/], in another terminal. They use the profile "
        f"'{PROFILE}', so your own logins are left alone. Log in as {editor.username}, the "
        "editor, with the passphrase above:"
    )
    commands = [
        f"vault login --server {url} --username {editor.username} --profile {PROFILE}",
        f"vault whoami --profile {PROFILE}",
        f"vault cases ls --profile {PROFILE}",
        f"vault docs ls --case {CASE} --profile {PROFILE}",
        f"vault docs read {testimony[:8]} --profile {PROFILE}",
        f"vault redact ls {agenda[:8]} --profile {PROFILE}",
        f"vault redact preview {agenda[:8]} --profile {PROFILE}",
        f"vault export {agenda[:8]} --redacted -o programme-redacted.pdf --profile {PROFILE}",
        f"vault audit log --data-dir {root / 'data'} --doc {testimony}",
        f"vault logout --profile {PROFILE}",
    ]
    for command in commands:
        out.print(f"  {command}", soft_wrap=True)
    out.print(f"The API's own documentation is at {url}/docs.")
    out.print()


def _play(
    out: Console, root: Path, keep: Path, *, serve: bool, port: int | None, debug: bool
) -> None:
    with contextlib.ExitStack() as cleanup:  # undone in reverse: server, logs, vault, socket
        # Listen first, so that a --port already in use fails before any other work.
        sock = cleanup.enter_context(contextlib.closing(listen(port)))
        settings = _settings(root)
        cast = new_cast()
        out.print(
            f"A throwaway vault in {root}: an administrator, a journalist and two editors, "
            "each with a new random passphrase."
        )
        vault, shares = _create_vault(settings, cast)
        cleanup.callback(vault.close)
        server = Server(settings, vault, sock)
        cleanup.enter_context(server_logs(root / "server.log", debug=debug))
        cleanup.callback(server.stop)
        server.start()
        out.print(f"Its API is served at {server.url}.")
        testimony, agenda = review(out, server.url, cast, keep)
        cast = recover(out, server.url, vault, cast, shares, testimony)
        if serve:
            _next_steps(out, server.url, cast, root, testimony, agenda)
            _wait(out, server)


def _wait(out: Console, server: Server) -> None:
    """Until Ctrl-C (or SIGTERM/SIGHUP); an error if the server stops by itself."""
    try:
        # Inside the try: whoever reads this line may press Ctrl-C at once.
        out.print("Press Ctrl-C to stop the server and delete the demo vault.")
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        return
    raise StorageError("the demo server stopped unexpectedly")


def demo(
    ctx: typer.Context,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="End after the story instead of serving.")
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Serve on this port (default: a free one).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Try Source Vault: a throwaway vault and one review, played step by step.

    A journalist uploads an invented testimony and a meeting's programme; an editor reads them;
    two editors redact the source's name and number from the programme and export it; two
    holders of the recovery shares give the journalist her access back after she forgets her
    passphrase.

    Then it serves until Ctrl-C, printing the passphrases and the commands to try next.

    With --no-serve it ends after the story. Everything is deleted at the end."""
    out = Console(highlight=False)
    debug = bool(ctx.find_root().params.get("debug"))
    root = Path(tempfile.mkdtemp(prefix="vault-demo-"))  # mode 0700
    keep = Path(tempfile.mkdtemp(prefix="vault-demo-export-"))  # kept: invented documents only
    with signals_interrupt():
        try:
            _play(out, root, keep, serve=not no_serve, port=port, debug=debug)
        finally:
            with uninterrupted():
                shutil.rmtree(root, ignore_errors=True)
                if not any(keep.iterdir()):
                    keep.rmdir()
    out.print()
    out.print(f"Stopped the server and deleted the demo vault in {root}.")
    if keep.exists():
        out.print(f"The redacted programme and its picture are still in {keep}.")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
