"""``vault users``: accounts, managed by an administrator on the server's data directory."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from vault.cli.local.options import DataDir, PassphraseFile, load_settings
from vault.cli.output import say
from vault.cli.prompts import read_passphrase
from vault.errors import InvalidInput, NotFound
from vault.roles import Role

# The vault's services are imported inside the commands, as in ``vault.cli.local.setup``: they are
# not needed to start the review commands or to print help.
if TYPE_CHECKING:
    from vault.instance import Vault
    from vault.services.user_admin import UserInfo

__all__ = ["app"]

app = typer.Typer(help="Manage accounts (administrators, on the server).", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The username.", show_default=False)]
_T = TypeVar("_T")


@contextmanager
def _opened(data_dir: DataDir) -> Iterator[Vault]:
    """The vault in ``data_dir``, closed again when the block ends."""
    from vault.instance import Vault

    vault = Vault.open(load_settings(data_dir))
    try:
        yield vault
    finally:
        vault.close()


def _on_user(username: str, action: Callable[[], _T]) -> _T:
    """Run ``action`` on the account ``username``, naming it if there is no such account."""
    try:
        return action()
    except NotFound:
        raise NotFound(f"no user named '{username}' (see `vault users ls`)") from None


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Login name: lowercase letters, digits, . _ -")],
    role: Annotated[Role, typer.Option("--role", help="journalist, editor or admin.")],
    data_dir: DataDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Create an account. Prints a one-time enrolment code for the person to set their own
    passphrase (POST /v1/auth/enroll), or, with --passphrase-file, creates it active at once."""
    with _opened(data_dir) as vault:
        passphrase = (
            read_passphrase(passphrase_file, confirm=True) if passphrase_file is not None else None
        )
        _, code, uri = vault.users.create_account(
            None, username=username, role=role, passphrase=passphrase
        )
    err = Console(stderr=True)
    if code is not None:
        hours = vault.settings.enrolment_hours
        err.print(f"Created {role.value} [bold]{username}[/]. Enrolment code (valid {hours} h):")
        typer.echo(code)
    else:
        err.print(f"Created {role.value} [bold]{username}[/], active.")
        if uri is not None:
            err.print(
                "Two-factor authentication is required for this role. Add this URI to an "
                "authenticator app (shown once):"
            )
            typer.echo(uri)


@app.command("ls")
def ls(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List accounts."""
    with _opened(data_dir) as vault:
        rows = vault.users.accounts()
        roles = vault.settings.end_to_end_roles

    def login(u: UserInfo) -> str:
        return "end to end" if u.end_to_end_only or str(u.role) in roles else "either"

    items = [
        {
            "id": str(u.id),
            "username": u.username,
            "role": str(u.role),
            "enabled": u.enabled,
            "state": "active" if u.enrolled else "awaiting enrolment",
            "two_factor": u.two_factor,
            "login": login(u),
            "created_at": u.created_at.isoformat(),
        }
        for u in rows
    ]
    if as_json:
        typer.echo(json.dumps({"users": items}, indent=2))
        return
    table = Table("username", "role", "state", "enabled", "2FA", "login", "created")
    for u in rows:
        table.add_row(
            u.username,
            str(u.role),
            "active" if u.enrolled else "awaiting enrolment",
            "yes" if u.enabled else "no",
            "yes" if u.two_factor else "no",
            login(u),
            u.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


@app.command("disable")
def disable(username: NameArg, data_dir: DataDir = None) -> None:
    """Disable an account: its sessions and API tokens end at once and it cannot log in.

    Its keys stay: `vault users enable` lets the person log in again with their passphrase.
    The change is recorded in the access log.
    """
    with _opened(data_dir) as vault:
        _on_user(username, lambda: vault.users.set_enabled(username, False))
    say(
        f"Disabled [bold]{username}[/]: their sessions and tokens are ended and they cannot "
        f"log in until `vault users enable {username}`."
    )


@app.command("enable")
def enable(username: NameArg, data_dir: DataDir = None) -> None:
    """Enable a disabled account again.

    Sessions and tokens ended by `disable` stay ended: the person logs in anew. The change is
    recorded in the access log.
    """
    with _opened(data_dir) as vault:
        _on_user(username, lambda: vault.users.set_enabled(username, True))
    say(f"Enabled [bold]{username}[/]: they can log in again.")


@app.command("reset")
def reset(
    username: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Reset an account whose passphrase is forgotten, and print a new enrolment code.

    Their key, two-factor secret, sessions and tokens are destroyed. In each of their cases they
    await approval again (`vault cases approve`): whoever enrols with the new code may not be
    the same person. The sources they handle wait for the recovery share holders (`vault
    recover handovers`). Asks for
    confirmation unless --yes, which is required when standard input is not a terminal. The
    reset is recorded in the access log.
    """
    if not yes:
        if not sys.stdin.isatty():
            raise InvalidInput("refusing to reset an account without confirmation: pass --yes")
        question = (
            f"Reset {username}? Their key, sessions and tokens are destroyed; this cannot be "
            "undone."
        )
        if not typer.confirm(question, default=False, err=True):
            say("Nothing was changed.")
            raise typer.Exit(1)
    with _opened(data_dir) as vault:
        code = _on_user(username, lambda: vault.users.reset_enrolment(username))
        hours = vault.settings.enrolment_hours
    say(
        f"Reset [bold]{username}[/]: their key, sessions and tokens are gone. "
        f"New enrolment code (valid {hours} h):"
    )
    typer.echo(code)


@app.command("require-rotation")
def require_rotation(username: NameArg, data_dir: DataDir = None) -> None:
    """Make the account's next login replace its key pair (after a suspected exposure).

    At that login every key the old key pair held is re-wrapped for a new one, the old one is
    destroyed and every other session and API token ends, exactly as with `vault keys rotate`.
    Recorded in the access log.
    """
    with _opened(data_dir) as vault:
        _on_user(username, lambda: vault.users.require_rotation(username))
    say(f"[bold]{username}[/]'s next login will replace their key pair.")


@app.command("end-to-end")
def end_to_end(
    username: NameArg,
    only: Annotated[
        bool,
        typer.Option(
            "--only/--either",
            help="--only: end-to-end logins only; --either: passphrase logins allowed again.",
        ),
    ] = True,
    data_dir: DataDir = None,
) -> None:
    """Make an account log in end to end only (`vault login --end-to-end`), or not.

    With --only the server refuses the account's passphrase logins from now on, and every
    session and API token that holds its key on the server ends at once (those opened end to
    end stay). The vault can require it of whole roles too (the setting end_to_end_only_roles).
    Recorded in the access log.
    """
    with _opened(data_dir) as vault:
        ended = _on_user(username, lambda: vault.users.set_end_to_end_only(username, only))
    if only:
        say(
            f"[bold]{username}[/] now logs in end to end only; {ended} server-side session(s) "
            "and token(s) ended."
        )
    else:
        say(f"[bold]{username}[/] may log in either way again.")


@app.command("role")
def role(
    username: NameArg,
    new_role: Annotated[
        Role,
        typer.Argument(metavar="ROLE", help="journalist, editor or admin.", show_default=False),
    ],
    data_dir: DataDir = None,
) -> None:
    """Change an account's role (journalist, editor or admin).

    It applies from the person's next request; sessions and tokens stay valid. The change is
    recorded in the access log with the old and the new role.
    """
    with _opened(data_dir) as vault:
        previous = _on_user(username, lambda: vault.users.set_role(None, username, new_role))
        needs_totp = vault.auth.totp_required(new_role)
        user = vault.users.account(username)
        lacks_totp = user.enrolled and not user.two_factor
    if previous == new_role:
        say(f"{username} is already {new_role.value}: nothing changed.")
        return
    say(f"Changed [bold]{username}[/] from {previous.value} to {new_role.value}.")
    if needs_totp and lacks_totp:
        say(
            f"[bold yellow]warning[/]: the {new_role.value} role requires two-factor "
            f"authentication and {username} has none set up, so they cannot log in until "
            f"`vault users reset {username}` and a new enrolment."
        )
