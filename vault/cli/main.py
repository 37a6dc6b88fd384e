"""Entry point: the ``vault`` Typer app, global options, and the one place where errors become
a line on stderr and an exit status.

The commands live in two folders: ``vault.cli.remote`` (they talk to a server over HTTP) and
``vault.cli.local`` (they open a data directory on the server); the plumbing both share
(``client``, ``output``, ``prompts``, ``errors``) is here beside this module."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Annotated

import typer

from vault._version import __version__
from vault.cli.errors import exit_code_for
from vault.cli.local import audit, backup, demo, recover, retention, serve, setup, users
from vault.cli.output import printable
from vault.cli.remote import (
    account,
    cases,
    docs,
    enrol,
    export,
    holds,
    redact,
    session,
    sources,
    tokens,
)
from vault.errors import VaultError

__all__ = ["app", "run"]

app = typer.Typer(
    name="vault",
    help="Source Vault: encrypted, access-logged storage for material that can endanger a source.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "New here? Run `vault demo`. To review a case: `vault login --server URL --username NAME`,"
        " then `vault cases ls`, `vault docs ls --case CASE` and `vault docs read ID`."
    ),
    add_completion=True,
    rich_markup_mode="markdown",
)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vault {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback and debug logs on errors.")
    ] = False,
) -> None:
    """Source Vault keeps documents encrypted, records who opened them, and exports redacted
    versions. Run `vault COMMAND --help` for each command."""
    _state["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr)


demo.register(app)
setup.register(app)
backup.register(app)  # `vault restore`, and the `vault backup` group
serve.register(app)
session.register(app)
enrol.register(app)
account.register(app)
export.register(app)  # Typer lists single commands before groups: it follows `whoami`
app.add_typer(cases.app, name="cases")
app.add_typer(docs.app, name="docs")
app.add_typer(redact.app, name="redact")
app.add_typer(sources.app, name="sources")
app.add_typer(tokens.app, name="tokens")
app.add_typer(users.app, name="users")
app.add_typer(audit.app, name="audit")
app.add_typer(recover.app, name="recover")
# The name the share holders' manual and the issue tracker use for the same commands.
app.add_typer(recover.app, name="recovery", hidden=True)
app.add_typer(holds.app, name="hold")
app.add_typer(retention.app, name="retention")


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except VaultError as exc:
        if _state["debug"]:
            traceback.print_exc()
        # One line that cannot drive the terminal: a message may quote what a database writer
        # put in a column (a record's id, say), and stderr is the operator's terminal.
        line = " ".join(printable(str(exc)).split())
        typer.echo(f"vault: error: {line}", err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        typer.echo("vault: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if _state["debug"]:
            traceback.print_exc()
        typer.echo(
            f"vault: error: unexpected {type(exc).__name__} (run with --debug for details)",
            err=True,
        )
        sys.exit(1)
