"""``vault recover``: what only the holders of the recovery shares can do.

The organisation recovery key exists only as SLIP-39 shares (``vault init``). These commands
rebuild it in memory from k shares, on the machine that holds the data directory, do their work
and forget it: it is never written anywhere, and every use is recorded in the access log.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from vault.cli.local import DataDir, load_settings
from vault.cli.output import say
from vault.errors import InvalidInput

__all__ = ["app"]

app = typer.Typer(help="What only the holders of the recovery shares can do.", no_args_is_help=True)

ShareFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--share-file",
        help="A recovery share as `vault init --recovery-out` wrote it (repeat for each share). "
        "Without it, the holders type their shares at the terminal, one at a time, unechoed.",
        show_default=False,
    ),
]


def _read_share_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read the share file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput("a share file is not UTF-8 text") from None
    # `vault init` writes two lines about the share, a blank line, then the mnemonic.
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InvalidInput("a share file is empty")
    return lines[-1]


def read_shares(files: list[Path] | None, threshold: int) -> list[str]:
    """``threshold`` shares from ``files`` or, at a terminal, typed by their holders."""
    if files:
        return [_read_share_file(path) for path in files]
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for the recovery shares: use --share-file")
    shares = []
    for number in range(1, threshold + 1):
        share: str = typer.prompt(
            f"Recovery share {number} of {threshold} (its holder types it; nothing is shown)",
            hide_input=True,
        )
        shares.append(share)
    return shares


@app.command("handovers")
def handovers(data_dir: DataDir = None, share_files: ShareFiles = None) -> None:
    """Give new handlers the keys of the sources handed to them when their previous handler
    was removed from the case, with the recovery key rebuilt from k shares.

    Run where the data directory is. A handover whose new handler cannot hold a key yet (not
    enrolled, disabled, awaiting approval in the case) keeps waiting.
    """
    from vault.instance import Vault
    from vault.services.recovery import RecoveryService

    vault = Vault.open(load_settings(data_dir))
    try:
        service = RecoveryService(engine=vault.engine, clock=vault.clock)
        mnemonics = read_shares(share_files, service.threshold())
        done, waiting = service.complete_handovers(mnemonics)
    finally:
        vault.close()
    for pseudonym in done:
        say(f"Source [bold]{escape(pseudonym)}[/]: its new handler holds its key now.")
    if not done:
        say("No handover could be completed.")
    if waiting:
        say(f"{waiting} handover(s) still wait: their new handler cannot hold a key yet.")
