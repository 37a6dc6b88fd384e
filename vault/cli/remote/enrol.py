"""``vault enroll``: set the first passphrase of a new account with its one-time code.

With ``--end-to-end`` the key pair is made here and sealed under the passphrase here
(docs/format.md §3, §4): the server receives the public key, the sealed private key and the
login verifier, never the passphrase (``/v1/auth/e2e/enroll``). Without it, the passphrase
goes to the server over TLS, as with ``curl`` (``POST /v1/auth/enroll``). Where the role needs
a second factor, the TOTP URI is printed once and a first code activates the account.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer

from vault import crypto
from vault.cli.client import Client
from vault.cli.output import say
from vault.cli.prompts import read_passphrase
from vault.errors import AuthenticationFailed, EndToEndOnly, IntegrityError, InvalidInput
from vault.passphrase_policy import check_passphrase

__all__ = ["enroll", "register"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _end_to_end(client: Client, username: str, code: str, passphrase: str) -> tuple[Any, bytes]:
    """The server's answer and the login verifier, the keys made and sealed here."""
    started = client.post("/v1/auth/e2e/enroll/start", {"username": username, "code": code})
    try:
        user_id = UUID(str(started["user_id"]))
        params = crypto.Argon2Params(
            int(started["memory_kib"]), int(started["time_cost"]), int(started["lanes"])
        )
    except (KeyError, TypeError, ValueError):
        raise IntegrityError("the server's enrolment answer is malformed", reason="kdf") from None
    except InvalidInput as exc:
        # Weak parameters would make the passphrase cheap to guess from the stored verifier.
        raise IntegrityError(
            f"the server asked for weak key derivation: {exc}", reason="kdf"
        ) from None
    salt = crypto.new_passphrase_salt()
    keys = crypto.derive_passphrase_keys(passphrase, salt, params)
    key = crypto.generate_private_key()
    answer = client.post(
        "/v1/auth/e2e/enroll",
        {
            "username": username,
            "code": code,
            "public_key": _b64(key.public_key().to_bytes()),
            "salt": _b64(salt),
            "memory_kib": params.memory_kib,
            "time_cost": params.time_cost,
            "lanes": params.lanes,
            "verifier": _b64(keys.verifier),
            "sealed_private_key": _b64(crypto.seal_private_key(keys.kek, key, owner_id=user_id)),
        },
    )
    return answer, keys.verifier


def enroll(
    server: Annotated[str, typer.Option("--server", help="The vault's URL.", show_default=False)],
    username: Annotated[
        str, typer.Option("--username", "-u", help="Your username.", show_default=False)
    ],
    code: Annotated[
        str | None,
        typer.Option("--code", help="The one-time enrolment code (asked for if left out)."),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file", help="Read the new passphrase from this file instead of asking."
        ),
    ] = None,
    otp: Annotated[
        str | None,
        typer.Option("--otp", help="A first one-time code, where your role needs a second factor."),
    ] = None,
    end_to_end: Annotated[
        bool,
        typer.Option(
            "--end-to-end",
            help="Make your key pair here: the server never receives your passphrase.",
        ),
    ] = False,
) -> None:
    """Set your first passphrase with the one-time code your administrator gave you.

    With --end-to-end your key pair is made and sealed on this machine and the passphrase never
    leaves it. Where your role needs a second factor, the authenticator URI is printed once
    (add it to your app) and a first code (--otp, or asked for) activates the account. Then
    log in with `vault login`.
    """
    if code is None:
        if not sys.stdin.isatty():
            raise InvalidInput("give the enrolment code with --code")
        code = typer.prompt("Enrolment code", err=True).strip()
    passphrase = read_passphrase(passphrase_file, confirm=True, label="New passphrase")
    check_passphrase(passphrase)
    with Client(server) as client:
        verifier = None
        try:
            if end_to_end:
                answer, verifier = _end_to_end(client, username, code, passphrase)
            else:
                body = {"username": username, "code": code, "passphrase": passphrase}
                answer = client.post("/v1/auth/enroll", body)
        except EndToEndOnly:
            raise  # the account enrols with --end-to-end: said as the server says it
        except AuthenticationFailed:
            # Not the login hint the client's generic 401 carries: the code is what was wrong.
            raise AuthenticationFailed(
                "invalid username or enrolment code (ask your administrator for a new one if "
                "it expired)"
            ) from None
        uri = answer.get("totp_uri") if isinstance(answer, dict) else None
        if uri:
            say("Add this to your authenticator app (shown once):")
            typer.echo(uri)
            if otp is None:
                if not sys.stdin.isatty():
                    raise InvalidInput("give a first one-time code with --otp")
                otp = typer.prompt("First one-time code", err=True).strip()
            if verifier is not None:
                body = {"username": username, "verifier": _b64(verifier), "otp": otp}
                client.request("POST", "/v1/auth/e2e/enroll/confirm", json=body)
            else:
                body = {"username": username, "passphrase": passphrase, "otp": otp}
                client.request("POST", "/v1/auth/enroll/confirm", json=body)
    mode = "end to end: your passphrase stayed on this machine" if end_to_end else "server-side"
    say(f"Enrolled {username} ({mode}). Log in with `vault login`.")


def register(app: typer.Typer) -> None:
    app.command("enroll")(enroll)
