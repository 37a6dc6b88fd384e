"""``vault passphrase``, ``vault keys rotate`` and ``vault keys show``: your own passphrase and
key pair, and anyone's key as the access log holds it.

The first two need your current passphrase, even at a live session (a wrong one counts as a failed
login), and read it and the new one from a terminal without echo or from files, never from
the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from vault.audit import transparency
from vault.cli.output import AsJson, emit_one, say
from vault.cli.prompts import read_passphrase
from vault.cli.remote import e2e_passphrase, profiles
from vault.cli.remote.key_check import checked_key, tell
from vault.cli.remote.session import ProfileOpt, open_client, open_session
from vault.errors import AuthenticationFailed

__all__ = ["keys", "register"]

CurrentFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file", help="Read your current passphrase from this file's first line."
    ),
]


def passphrase(
    passphrase_file: CurrentFile = None,
    new_passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--new-passphrase-file", help="Read the new passphrase from this file's first line."
        ),
    ] = None,
    profile: ProfileOpt = None,
) -> None:
    """Change your passphrase. Your other sessions end; this one and your API tokens stay.

    Asks for the current passphrase, then the new one twice (or reads them from files). The
    new one must meet the vault's policy (at least 12 characters, not a common password).
    """
    current = read_passphrase(passphrase_file, confirm=False, label="Current passphrase")
    new = read_passphrase(new_passphrase_file, confirm=True, label="New passphrase")
    with open_client(profile) as client:
        if client.key is not None:
            # An end-to-end session: re-sealed here, neither passphrase sent.
            ended = e2e_passphrase.change_passphrase(client, current, new)
        else:
            answer: dict[str, Any] = client.post(
                "/v1/me/passphrase", {"current_passphrase": current, "new_passphrase": new}
            )
            ended = answer["sessions_ended"]
    say(
        "Passphrase changed."
        + (f" {ended} other session(s) ended." if ended else " No other session was open.")
    )


keys = typer.Typer(help="Your key pair, and colleagues' public keys.", no_args_is_help=True)


@keys.command("rotate")
def rotate(
    passphrase_file: CurrentFile = None,
    otp: Annotated[
        str | None,
        typer.Option("--otp", help="The code from your authenticator app, if your role needs one."),
    ] = None,
    profile: ProfileOpt = None,
) -> None:
    """Replace your key pair: every key the old one held is re-wrapped for the new one, and the
    old one is destroyed. All your sessions and API tokens end; you are logged in again here.

    Use it when your key may have been exposed (a lost laptop with an open session, a server
    you no longer trust). It is done at a login, in one step on the server: interrupted, your
    old key stays as it was and you can run it again.
    """
    name = profile or os.environ.get("VAULT_PROFILE") or profiles.DEFAULT
    saved = profiles.load(name)
    if saved is None:
        raise AuthenticationFailed(f"profile '{name}' is not logged in: run `vault login` first")
    current = read_passphrase(passphrase_file, confirm=False)
    opened, _ = open_session(name, saved.server, saved.username, current, otp, rotate_key=True)
    say(
        f"New key pair for [bold]{opened.username}[/]: everything you could read is wrapped for "
        "it, the old one is destroyed, and every other session and API token has ended. You "
        f"are logged in again (profile '{name}')."
    )
    if opened.key is not None:
        tell(opened.key, own=True, rotated=True)


@keys.command("show")
def show(
    username: Annotated[str, typer.Argument(help="Whose key: a colleague's username, or yours.")],
    profile: ProfileOpt = None,
    as_json: AsJson = False,
) -> None:
    """Show a user's public key fingerprint, checked against the server's access log.

    The key must be the one the log holds for that account, in a log that extends the one this
    machine saw last (exit status 5 otherwise: the server is showing something it did not log,
    or a rewritten log). Compare the fingerprint with the colleague in person or on a call;
    they see theirs with `vault keys show` and their own name.
    """
    with open_client(profile) as client:
        checked = checked_key(client, username)
    entry = checked.entry
    head = entry.checkpoint
    item = {
        "username": entry.username,
        "user_id": str(entry.user_id),
        "key_id": entry.key_id,
        "fingerprint": transparency.fingerprint(entry.key_id),
        "entry": entry.index,
        "action": entry.action,
        "logged_at": entry.time,
        "checkpoint_size": head.size,
        "checkpoint_root": head.root.hex(),
    }
    emit_one(
        item,
        [
            ("username", "user"),
            ("fingerprint", "fingerprint"),
            ("entry", "log entry"),
            ("action", "logged as"),
            ("logged_at", "logged at"),
            ("checkpoint_size", "checkpoint"),
            ("checkpoint_root", "root"),
        ],
        as_json=as_json,
    )
    tell(checked, own=False)


def register(app: typer.Typer) -> None:
    app.command("passphrase")(passphrase)
    app.add_typer(keys, name="keys")
