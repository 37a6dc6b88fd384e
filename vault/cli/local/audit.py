"""``vault audit``: verify the access log offline or as an outside witness (following the
log's key rotations), rotate its signing key, accept a deliberate rollback of the database,
and read it."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from vault.audit import checkpoint, rotation, witness
from vault.cli.local.options import DataDir, load_settings
from vault.cli.output import say
from vault.errors import AuthenticationFailed, InvalidInput, StorageError

__all__ = ["app"]

app = typer.Typer(help="Verify and read the tamper-evident access log.", no_args_is_help=True)


@app.command("verify")
def verify(
    data_dir: DataDir = None,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Verify a running server as an outside witness instead."),
    ] = None,
    saved: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="With --server: the checkpoint saved by the last run (its key is pinned in "
            "FILE.key); the new one must extend it, and replaces it.",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            metavar="VKEY",
            help="With --server: the verifier key to trust (instead of FILE.key); a rotation "
            "from it to the server's key is followed.",
        ),
    ] = None,
) -> None:
    """Check the log: offline from the data directory (every entry, hash, checkpoint and key
    rotation), or, with --server, the server's latest checkpoint against a pinned key and a
    saved checkpoint, following the server's key rotations from the pinned key. Offline, the
    log must also extend the checkpoint pinned outside the database; exits 1 and names the
    first problem; as a witness, exits 5 (integrity failure) when the server's
    log was rewritten or its key is neither the pinned one nor reached from it by rotations."""
    if server is not None:
        _witness(server.rstrip("/"), saved, key)
        return
    if key is not None:
        raise InvalidInput("--key pins a server's key: use it with --server")
    # The database layer is imported here, not at the top: a witness run needs none of it.
    from vault.audit.signer import verify_vault
    from vault.instance import Vault

    # Read-only: verifying changes nothing, and works on a read-only snapshot of a vault.
    vault = Vault.open(load_settings(data_dir), read_only=True)
    try:
        report = verify_vault(vault.engine, vault.settings.checkpoint_pin_path)
    finally:
        vault.close()
    if not report.ok:
        typer.echo(f"vault: error: the access log does not verify: {report.problem}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"ok: {report.size} entries and {report.checkpoints} signed checkpoints verify; "
        f"root {base64.b64encode(report.root).decode()}"
    )
    if report.pinned is not None:
        typer.echo(f"ok: the log extends the checkpoint pinned at size {report.pinned}")


@app.command("accept-rollback")
def accept_rollback(
    data_dir: DataDir = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Confirm that the database was rolled back on purpose."),
    ] = False,
) -> None:
    """Accept a database that is older than the log this server last signed (a backup restored
    on purpose): log an audit.rollback.accepted entry naming both trees, sign the checkpoint
    that ends with it and pin it, so that the vault starts again. Witnesses that saved a newer
    checkpoint will see the log rewritten."""
    if not yes:
        raise InvalidInput(
            "accepting a rollback discards the newer log this server signed: pass --yes"
        )
    from vault.audit.rollback import accept_rollback as accept
    from vault.instance import Vault

    vault = Vault.open(load_settings(data_dir), check_rollback=False)
    try:
        accepted = accept(vault.engine, vault.settings, vault.clock)
    finally:
        vault.close()
    pinned = (
        "nothing pinned"
        if accepted.pinned_size is None
        else f"the pinned checkpoint of size {accepted.pinned_size}"
    )
    say(
        f"Accepted the rollback from {pinned} to the database's size "
        f"{accepted.database_size}, logged at entry {accepted.index}; the checkpoint of size "
        f"{accepted.index + 1} is signed and pinned."
    )


@app.command("rotate-key")
def rotate_key(data_dir: DataDir = None) -> None:
    """Replace the access log's signing key (administrators, on the server). The rotation is
    logged, the checkpoint that covers it is signed by the old and the new key so that
    witnesses follow, and the old key's private half is erased. Prints the new verifier key."""
    from vault.instance import Vault

    vault = Vault.open(load_settings(data_dir))
    try:
        transition = vault.audit.rotate_key()
    finally:
        vault.close()
    say(
        f"Rotated the access log's key at entry {transition.index}; the checkpoint of size "
        f"{transition.index + 1} is signed by both keys. The new verifier key:"
    )
    typer.echo(transition.new_key)


def _get(client: Any, path: str, **params: int) -> Any:
    import httpx

    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise StorageError(f"cannot reach the server: {type(exc).__name__}") from None
    if response.status_code == 401:
        raise AuthenticationFailed("the server refused the token (set VAULT_TOKEN)")
    if response.status_code != 200:
        detail = response.json().get("detail", "") if response.content else ""
        raise StorageError(f"the server answered {response.status_code}: {detail}")
    return response


def _witness(server: str, saved: Path | None, key: str | None) -> None:
    import httpx

    token = os.environ.get("VAULT_TOKEN")
    if not token:
        raise InvalidInput("set VAULT_TOKEN to an auditor's session or read token")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
        _witness_with(client, saved, key)


class _HttpLog:
    """The witness's view of the server (``vault.audit.witness.LogSource``) over ``client``."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def verifier_key(self) -> str:
        return str(_get(self._client, "/v1/audit/key").text.strip())

    def rotations(self) -> list[rotation.Transition]:
        return rotation.parse_transitions(_get(self._client, "/v1/audit/key/rotations").json())

    def consistency(self, first: int, second: int) -> list[bytes]:
        body = _get(self._client, "/v1/audit/proof/consistency", first=first, second=second)
        return [base64.b64decode(p) for p in body.json()["proof"]]


def _witness_with(client: Any, saved: Path | None, key: str | None) -> None:
    """The witness's checks with an HTTP client that already carries the credentials."""
    pin = saved.with_name(saved.name + ".key") if saved else None
    pinned = key.strip() if key is not None else None
    if pinned is None and pin is not None and pin.exists():
        pinned = pin.read_text().strip()
    note = _get(client, "/v1/audit/checkpoint").text
    last = saved.read_text() if saved is not None and saved.exists() else None
    done = witness.advance(_HttpLog(client), note, pinned_key=pinned, saved=last)
    if saved is not None and pin is not None:
        saved.write_text(note)
        pin.write_text(done.key + "\n")
    for transition in done.rotations:
        typer.echo(
            f"followed a key rotation at entry {transition.index}: "
            f"the log's key is now {transition.new_key}"
        )
    if done.rotations:
        typer.echo(f"pin the new key: {done.key}")
    name = checkpoint.decode_vkey(done.key)[0]
    typer.echo(
        f"ok: checkpoint at size {done.checkpoint.size} is signed by {name} and extends the "
        "last one"
    )


@app.command("log")
def show_log(
    data_dir: DataDir = None,
    doc: Annotated[
        str | None, typer.Option("--doc", help="Only entries about this document.")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only entries by this user.")] = None,
    since: Annotated[
        datetime | None, typer.Option("--since", help="Only entries at or after this time (UTC).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """The access log as a readable table, newest last (administrators, on the server)."""
    from vault.instance import Vault

    vault = Vault.open(load_settings(data_dir))
    try:
        entries = vault.audit.listing(document=doc, actor=actor, since=since)
    finally:
        vault.close()
    if as_json:
        typer.echo(json.dumps({"entries": entries}, indent=2))
        return
    table = Table("#", "time", "actor", "action", "outcome", "targets")
    for e in entries:
        targets = " ".join(f"{k}={v[:8]}" for k, v in e["targets"].items())
        table.add_row(
            str(e["index"]), e["time"], e["actor_name"], e["action"], e["outcome"], targets
        )
    Console().print(table)
