"""``vault tokens``: API tokens for scripts (upload or read only).

A token is created from a login session and shown once: the server keeps only its hash. Give
a script the narrowest scope it needs (``upload`` adds documents and reads nothing) and a short
life, and revoke it when the script is retired.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape

from vault.cli.output import AsJson, emit, emit_one, err, say, when
from vault.cli.remote.lookup import as_uuid, by_prefix
from vault.cli.remote.session import ProfileOpt, open_client
from vault.errors import NotFound

__all__ = ["Scope", "app"]

app = typer.Typer(help="API tokens for scripts (upload or read only).", no_args_is_help=True)

DAY = 86400


class Scope(StrEnum):
    """What a token may do: ``upload`` documents (and read nothing), or ``read`` what its
    owner can read."""

    UPLOAD = "upload"
    READ = "read"


@app.command("ls")
def ls(as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """List your tokens that are neither expired nor revoked (never the tokens themselves).

    With --json: {"tokens": [{"id", "name", "scopes", "created_at", "expires_at",
    "last_used_at"}, ...]} as the server answers.
    """
    with open_client(profile) as client:
        tokens: list[dict[str, Any]] = client.get("/v1/tokens")["tokens"]
    rows = [
        {
            "id": t["id"][:8],
            "name": t["name"] or "",
            "scopes": t["scopes"],
            "created": when(t["created_at"]),
            "expires": when(t["expires_at"]),
            "used": when(t["last_used_at"]),
        }
        for t in tokens
    ]
    emit(
        tokens if as_json else rows,
        [
            ("id", "ID"),
            ("name", "NAME"),
            ("scopes", "SCOPES"),
            ("created", "CREATED (UTC)"),
            ("expires", "EXPIRES (UTC)"),
            ("used", "LAST USED (UTC)"),
        ],
        as_json=as_json,
        key="tokens",
        empty="You have no tokens. Create one with `vault tokens create`.",
    )


@app.command("create")
def create(
    name: Annotated[
        str,
        typer.Option(
            "--name", "-n", help="What the token is for (1-100 characters).", show_default=False
        ),
    ],
    scopes: Annotated[
        list[Scope],
        typer.Option(
            "--scope",
            "-s",
            help="upload (add documents, read nothing) or read (read what you can read). "
            "Repeat for both.",
            show_default=False,
        ),
    ],
    expires_in: Annotated[
        int,
        typer.Option("--expires-in", min=1, metavar="DAYS", help="Lifetime in days."),
    ] = 30,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the server's answer (with the token) as JSON.")
    ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Create an API token from your login session and print it, once, on standard output.

    Use it as VAULT_TOKEN (with VAULT_SERVER) or as an HTTP bearer token. The server keeps only
    a hash: if it is lost, revoke it and create another.
    """
    body = {
        "name": name,
        "scopes": sorted({s.value for s in scopes}),
        "expires_in": expires_in * DAY,
    }
    with open_client(profile) as client:
        answer: dict[str, Any] = client.post("/v1/tokens", body)
    if as_json:
        emit_one(answer, [], as_json=True)
    else:
        typer.echo(answer["token"])
    err().print(
        f"[bold yellow]Created token {answer['id'][:8]}[/] ({escape(answer['name'] or '')}; "
        f"{', '.join(answer['scopes'])}; expires {when(answer['expires_at'])} UTC). It is shown "
        "this once: store it now.",
    )


def _resolve_token(tokens: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    wanted = as_uuid(ref) or by_prefix(ref, (t["id"] for t in tokens), "token")
    for token in tokens:
        if token["id"] == wanted:
            return token
    raise NotFound(f"no token matches '{ref}' among yours (see `vault tokens ls`)")


@app.command("revoke")
def revoke(
    token: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="The token's id, or a unique prefix of it (as `vault tokens ls` shows).",
            show_default=False,
        ),
    ],
    profile: ProfileOpt = None,
) -> None:
    """Revoke one of your tokens: it stops working at once."""
    with open_client(profile) as client:
        found = _resolve_token(client.get("/v1/tokens")["tokens"], token)
        client.delete(f"/v1/tokens/{found['id']}")
    say(f"Revoked token {found['id']} ({escape(found['name'] or '')}).")
