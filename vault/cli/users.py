"""``vault users``: accounts, managed by an administrator on the server's data directory."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import col, select

from vault.cli.local import DataDir, PassphraseFile, load_settings
from vault.cli.prompts import read_passphrase
from vault.instance import Vault
from vault.storage.models import Role, User

__all__ = ["app"]

app = typer.Typer(help="Manage accounts (administrators, on the server).", no_args_is_help=True)


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Login name: lowercase letters, digits, . _ -")],
    role: Annotated[Role, typer.Option("--role", help="journalist, editor or admin.")],
    data_dir: DataDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Create an account. Prints a one-time enrolment code for the person to set their own
    passphrase (POST /v1/auth/enroll), or, with --passphrase-file, creates it active at once."""
    vault = Vault.open(load_settings(data_dir))
    try:
        passphrase = (
            read_passphrase(passphrase_file, confirm=True) if passphrase_file is not None else None
        )
        _, code, uri = vault.auth.create_account(
            None, username=username, role=role, passphrase=passphrase
        )
    finally:
        vault.close()
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
    vault = Vault.open(load_settings(data_dir))
    try:
        with vault.session() as db:
            rows = db.exec(select(User).order_by(col(User.username))).all()
    finally:
        vault.close()
    items = [
        {
            "id": str(u.id),
            "username": u.username,
            "role": str(u.role),
            "enabled": u.enabled,
            "state": "active" if u.key_id else "awaiting enrolment",
            "two_factor": u.sealed_totp is not None,
            "created_at": u.created_at.isoformat(),
        }
        for u in rows
    ]
    if as_json:
        typer.echo(json.dumps({"users": items}, indent=2))
        return
    table = Table("username", "role", "state", "enabled", "2FA", "created")
    for u in rows:
        table.add_row(
            u.username,
            str(u.role),
            "active" if u.key_id else "awaiting enrolment",
            "yes" if u.enabled else "no",
            "yes" if u.sealed_totp is not None else "no",
            u.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)
