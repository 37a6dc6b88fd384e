"""Entry point: the ``vault`` Typer app, global options, and the one place where errors become
a line on stderr and an exit status."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Annotated

import typer

from vault._version import __version__
from vault.cli import audit, local, serve, users
from vault.cli.errors import exit_code_for
from vault.errors import VaultError

__all__ = ["app", "run"]

app = typer.Typer(
    name="vault",
    help="Source Vault: encrypted, access-logged storage for material that can endanger a source.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
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


local.register(app)
serve.register(app)
app.add_typer(users.app, name="users")
app.add_typer(audit.app, name="audit")


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except VaultError as exc:
        if _state["debug"]:
            traceback.print_exc()
        typer.echo(f"vault: error: {exc}", err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        typer.echo("vault: interrupted", err=True)
        sys.exit(130)
