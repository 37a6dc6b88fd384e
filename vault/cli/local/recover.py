"""``vault recover``: what only the holders of the recovery shares can do.

The organisation recovery key exists only as SLIP-39 shares (``vault init``). These commands
rebuild it in memory from k shares, on the machine that holds the data directory, do their work
and forget it: it is never written anywhere, and every use is recorded in the access log.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.markup import escape

from vault.cli.local.options import DataDir, load_settings
from vault.cli.output import say
from vault.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from vault.instance import Vault
    from vault.services.recovery import RecoveryShares

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


@contextmanager
def _opened(data_dir: Path | None) -> Iterator[Vault]:
    from vault.instance import Vault

    vault = Vault.open(load_settings(data_dir))
    try:
        yield vault
    finally:
        vault.close()


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput("refusing to go on without confirmation: pass --yes")
    if not typer.confirm(question, default=False, err=True):
        say("Nothing was changed.")
        raise typer.Exit(1)


Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@app.command("user")
def user(
    username: Annotated[str, typer.Argument(metavar="NAME", help="The account to recover.")],
    data_dir: DataDir = None,
    share_files: ShareFiles = None,
    yes: Yes = False,
) -> None:
    """Give back a person who lost their passphrase everything they could read.

    The account is reset to a new enrolment code (printed on standard output) with a new key
    pair that, with the recovery key, is given at once every document key of the cases they are
    approved in and the keys of the sources they handle: once they enrol with the code, they
    read it all, nothing pending. Their sessions, tokens, old key and two-factor secret are
    destroyed. Logged as `recovery.used`. Too few shares, or shares of another vault, change
    nothing.
    """
    with _opened(data_dir) as vault:
        mnemonics = read_shares(share_files, vault.recovery.threshold())
        vault.recovery.rebuild(mnemonics)  # check the shares before asking anything
        _confirm(
            f"Reset {username} and give their new key everything they could read? Their "
            "passphrase, sessions and tokens stop working.",
            yes,
        )
        try:
            code, regrant = vault.recovery.recover_user(username, mnemonics)
        except NotFound:
            raise NotFound(f"no user named '{username}' (see `vault users ls`)") from None
        hours = vault.settings.enrolment_hours
    say(
        f"Recovered [bold]{escape(username)}[/]: {regrant.documents} document key(s) and "
        f"{regrant.sources} source key(s) are theirs once they enrol. Enrolment code (valid "
        f"{hours} h), for them only:"
    )
    typer.echo(code)


@app.command("case")
def case(
    case_ref: Annotated[str, typer.Argument(metavar="CASE", help="The case's name or id.")],
    data_dir: DataDir = None,
    share_files: ShareFiles = None,
    yes: Yes = False,
) -> None:
    """Give every enrolled member of a case that nobody can read any more every key of it.

    For a case whose readers all left or lost access: each enrolled, enabled member is given
    every document key they lack, members awaiting approval are approved (the share holders
    decide; the list is shown first), and each source's handler gets its key where it waits.
    Logged as `recovery.used`.
    """
    with _opened(data_dir) as vault:
        case_id = _case_id(vault, case_ref)
        mnemonics = read_shares(share_files, vault.recovery.threshold())
        vault.recovery.rebuild(mnemonics)
        members = vault.recovery.case_members(case_id)
        if not members:
            raise InvalidInput("the case has no enrolled member to give its keys to")
        _confirm(f"Give {', '.join(members)} every document and source key of this case?", yes)
        regrant = vault.recovery.recover_case(case_id, mnemonics)
    say(
        f"Gave {', '.join(escape(u) for u in regrant.users)} {regrant.documents} document "
        f"key(s) and {regrant.sources} source key(s)."
    )


def _case_id(vault: Vault, ref: str) -> UUID:
    row = vault.cases.lookup(ref)
    if row is None:
        raise NotFound(f"no case named '{ref}'")
    return row.id


@app.command("reshare")
def reshare(
    data_dir: DataDir = None,
    share_files: ShareFiles = None,
    threshold: Annotated[
        int | None,
        typer.Option("--threshold", help="How many new shares rebuild the key (default: as now)."),
    ] = None,
    shares: Annotated[
        int | None,
        typer.Option("--shares", help="How many new shares (default: as now)."),
    ] = None,
    rotate_key: Annotated[
        bool,
        typer.Option(
            "--rotate-key",
            help="Make a new recovery key too, re-wrapping every key the old one held: the old "
            "shares stop working.",
        ),
    ] = False,
    recovery_out: Annotated[
        Path | None,
        typer.Option(
            "--recovery-out",
            help="Write each new share to its own file (mode 0600) in this directory instead "
            "of printing them.",
        ),
    ] = None,
    yes: Yes = False,
) -> None:
    """Issue a new set of recovery shares (optionally another k-of-n), from k current ones.

    Without --rotate-key the new shares are of the same key, so the old shares keep working:
    use it to change k or n, or to add holders. With --rotate-key the key itself is replaced
    and every key the old one held is re-wrapped for the new one, so the old shares, and any
    copies of them, stop working: use it when a share may be lost or exposed. The new shares
    are written or shown before anything is committed.
    """
    from vault.initialise import write_shares

    with _opened(data_dir) as vault:
        current = vault.recovery.threshold()
        mnemonics = read_shares(share_files, current)
        vault.recovery.rebuild(mnemonics)
        k, n = threshold or current, shares or vault.recovery.shares()
        what = "a new recovery key and its" if rotate_key else "new"
        _confirm(f"Issue {what} {n} shares, any {k} of which rebuild it?", yes)
        written: list[Path] = []

        def deliver(new: RecoveryShares) -> None:
            undo: list[Callable[[], None]] = []
            written.extend(write_shares(new, recovery_out, undo))
            if recovery_out is None:
                out = Console()
                for number, mnemonic in enumerate(new.mnemonics, start=1):
                    out.print(f"share {number}/{n}: {mnemonic}", soft_wrap=True, highlight=False)

        rewrapped = vault.recovery.reshare(
            mnemonics, threshold=k, shares=n, rotate_key=rotate_key, deliver=deliver
        )
    for path in written:
        say(f"  {path}")
    if rotate_key:
        say(
            f"New recovery key: {rewrapped} key(s) re-wrapped for it. The old shares no longer "
            f"open anything; any {k} of the {n} new ones do. Give each to a different person."
        )
    else:
        say(
            f"{n} new shares of the same key; any {k} rebuild it. The old shares still work: "
            "use --rotate-key if any of them may be lost or exposed."
        )


@app.command("handovers")
def handovers(data_dir: DataDir = None, share_files: ShareFiles = None) -> None:
    """Give new handlers the keys of the sources handed to them when their previous handler
    was removed from the case, with the recovery key rebuilt from k shares.

    Run where the data directory is. A handover whose new handler cannot hold a key yet (not
    enrolled, disabled, awaiting approval in the case) keeps waiting.
    """
    with _opened(data_dir) as vault:
        mnemonics = read_shares(share_files, vault.recovery.threshold())
        done, waiting = vault.recovery.complete_handovers(mnemonics)
    for pseudonym in done:
        say(f"Source [bold]{escape(pseudonym)}[/]: its new handler holds its key now.")
    if not done:
        say("No handover could be completed.")
    if waiting:
        say(f"{waiting} handover(s) still wait: their new handler cannot hold a key yet.")
