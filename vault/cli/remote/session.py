"""``vault login``, ``vault logout`` and ``vault whoami``: a session on a server, kept in a
profile so that the review commands can use it."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from vault.cli.client import Client
from vault.cli.output import AsJson, emit_one, say
from vault.cli.prompts import read_passphrase
from vault.cli.remote import e2e_login, profiles, trust
from vault.cli.remote.client_grants import complete_pending
from vault.cli.remote.key_check import CheckedKey, checked_key, tell
from vault.errors import (
    AuthenticationFailed,
    IntegrityError,
    InvalidInput,
    NotFound,
    OtpRequired,
    VaultError,
)

__all__ = ["ProfileOpt", "open_client", "open_session", "register"]

ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Which saved login to use (env: VAULT_PROFILE; default: default).",
        show_default=False,
    ),
]


def open_client(profile: str | None) -> Client:
    """A client for the review commands, with the session of ``profile`` (or the environment)."""
    target = profiles.resolve(profile)
    return Client(target.server, target.token, key=target.key)


def login(
    server: Annotated[
        str | None,
        typer.Option("--server", help="The vault's URL (env: VAULT_SERVER).", show_default=False),
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Your username.", show_default=False)
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file", help="Read the passphrase from this file instead of prompting."
        ),
    ] = None,
    otp: Annotated[
        str | None,
        typer.Option("--otp", help="The code from your authenticator app, if your role needs one."),
    ] = None,
    profile: ProfileOpt = None,
    end_to_end: Annotated[
        bool,
        typer.Option(
            "--end-to-end",
            help="Derive your keys here: the server never receives your passphrase and holds "
            "no key for the session (commands that need your key then run on this machine).",
        ),
    ] = False,
) -> None:
    """Log in to a vault server and keep the session in a profile (mode 0600, never the
    passphrase). Prompts, without echo, for what is not given."""
    name = profile or os.environ.get("VAULT_PROFILE") or profiles.DEFAULT
    previous = profiles.load(name)
    server = server or os.environ.get("VAULT_SERVER") or (previous.server if previous else None)
    if not server:
        raise InvalidInput("which server? pass --server URL (e.g. http://127.0.0.1:8000)")
    if not username:
        if previous is not None:
            username = previous.username
        elif sys.stdin.isatty():
            username = typer.prompt("Username")
        else:
            raise InvalidInput("pass --username NAME")
    passphrase = read_passphrase(passphrase_file, confirm=False)
    saved, path = open_session(name, server, username, passphrase, otp, end_to_end=end_to_end)
    mode = "end to end" if end_to_end else "server-side"
    say(
        f"Logged in to {saved.server} as [bold]{saved.username}[/] ({saved.role}, {mode}). "
        f"Session saved as profile '{name}' in {path}."
    )
    if saved.key is not None:
        tell(saved.key, own=True)


@dataclass(frozen=True)
class Opened:
    server: str
    username: str
    role: str
    key: CheckedKey | None  # None: the server publishes no keys (see _check_log)


def open_session(
    name: str,
    server: str,
    username: str,
    passphrase: str,
    otp: str | None,
    *,
    rotate_key: bool = False,
    end_to_end: bool = False,
) -> tuple[Opened, Path]:
    """Log in (asking for a one-time code at a terminal if the server wants one), save the
    session as profile ``name`` and the device token beside it. ``end_to_end``: the keys are
    derived here and only the login verifier and the challenge's answer are sent
    (``vault.cli.remote.e2e_login``); the private key is kept in the profile, sealed under the
    session's token."""
    if end_to_end:
        if rotate_key:
            raise InvalidInput("a key rotation is a server-side login: leave out --end-to-end")
        return _open_end_to_end(name, server, username, passphrase, otp)
    body: dict[str, object] = {
        "username": username,
        "passphrase": passphrase,
        "otp": otp,
        "device_token": profiles.device_token(server.rstrip("/"), username),
    }
    if rotate_key:
        body["rotate_key"] = True
    with Client(server) as client:
        try:
            answer = client.post("/v1/auth/login", body)
        except OtpRequired:
            if otp is not None or not sys.stdin.isatty():
                raise
            body["otp"] = typer.prompt("One-time code")
            answer = client.post("/v1/auth/login", body)
    saved = profiles.Profile(
        name=name,
        server=client.server,
        username=answer["user"]["username"],
        token=answer["token"],
        expires_at=answer["expires_at"],
    )
    if answer.get("device_token"):
        profiles.remember_device(client.server, saved.username, answer["device_token"])
    checked = _check_log(saved)
    path = profiles.save(saved)
    return Opened(saved.server, saved.username, answer["user"]["role"], checked), path


def _open_end_to_end(
    name: str, server: str, username: str, passphrase: str, otp: str | None
) -> tuple[Opened, Path]:
    device = profiles.device_token(server.rstrip("/"), username)
    with Client(server) as client:
        try:
            opened = e2e_login.log_in(client.post, username, passphrase, otp, device_token=device)
        except OtpRequired:
            if otp is not None or not sys.stdin.isatty():
                raise
            code = typer.prompt("One-time code")
            opened = e2e_login.log_in(client.post, username, passphrase, code, device_token=device)
    answer = opened.answer
    user_id = UUID(str(answer["user"]["id"]))
    saved = profiles.Profile(
        name=name,
        server=client.server,
        username=answer["user"]["username"],
        token=answer["token"],
        expires_at=answer["expires_at"],
        user_id=str(user_id),
        key_id=opened.key.public_key().key_id,
        sealed_key=profiles.seal_key(answer["token"], opened.key, user_id),
    )
    if answer.get("device_token"):
        profiles.remember_device(client.server, saved.username, answer["device_token"])
    checked = _check_log(saved)
    path = profiles.save(saved)
    # The server holds no key to complete grants with in this session: this machine does.
    with Client(saved.server, saved.token, key=opened.key) as session:
        granted = complete_pending(session)
    if granted:
        say(f"Wrapped {granted} document key(s) for colleagues waiting for them.")
    return Opened(saved.server, saved.username, answer["user"]["role"], checked), path


def _check_log(saved: profiles.Profile) -> CheckedKey | None:
    """Every login checks that the server's log extends the one this machine saw last, and
    that the log holds the key the server keeps for this account. A server failing either
    gets its new session ended, and no profile is saved. A server that publishes no keys (a
    release from before key transparency) is let through with a warning, unless the session
    is end to end or the server published them to this machine before: a server that stops
    answering must not switch the checks off."""
    with Client(saved.server, saved.token) as client:
        try:
            try:
                checked = checked_key(client, saved.username)
            except NotFound:
                if saved.end_to_end or trust.known(client.server):
                    raise IntegrityError(
                        "the server does not show the access log's record of your key: its "
                        "keys cannot be checked",
                        reason="key",
                    ) from None
                say(
                    "[yellow]This server does not publish its users' keys in its access log "
                    "(an older release): nothing was checked.[/]"
                )
                return None
            if saved.end_to_end and checked.entry.key_id != saved.key_id:
                raise IntegrityError(
                    "the server's log holds another key for you than the one your passphrase opens",
                    reason="key",
                )
            return checked
        except IntegrityError:
            with contextlib.suppress(VaultError):
                client.request("POST", "/v1/auth/logout")
            raise


def logout(profile: ProfileOpt = None) -> None:
    """End the session on the server and forget it here."""
    name = profile or os.environ.get("VAULT_PROFILE") or profiles.DEFAULT
    saved = profiles.load(name)
    if saved is None:
        say(f"Profile '{name}' is not logged in.")
        return
    try:
        with Client(saved.server, saved.token) as client:
            client.request("POST", "/v1/auth/logout")
    except AuthenticationFailed:
        pass  # already ended on the server; forgetting it here is all that is left
    finally:
        profiles.remove(name)
    say(f"Logged out of {saved.server} (profile '{name}').")


def whoami(profile: ProfileOpt = None, as_json: AsJson = False) -> None:
    """Who the server says you are, and where; and a warning if the server lets editors
    approve their own redactions."""
    target = profiles.resolve(profile)
    with Client(target.server, target.token) as client:
        me = client.get("/v1/auth/me")
    mode = "end to end" if target.key is not None else "server-side"
    me = {**me, "server": target.server, "profile": target.profile, "session": mode}
    emit_one(
        me,
        [
            ("username", "user"),
            ("role", "role"),
            ("server", "server"),
            ("profile", "profile"),
            ("session", "session"),
        ],
        as_json=as_json,
    )
    if me.get("redaction_self_approval"):
        # Servers before it was reported say nothing; one that reports it on is said out loud.
        say(
            "[yellow]Self-approval of redactions is on for this server: an editor can approve "
            "their own redactions (redaction_self_approval).[/]"
        )


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
