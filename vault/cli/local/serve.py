"""``vault serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vault.cli.local.options import DataDir, load_settings
from vault.errors import StorageError
from vault.settings import Settings

__all__ = ["register"]

# Applied by uvicorn in every worker process: workers are spawned, not forked, so the logging
# set up in this process does not reach them (their access logs would otherwise be dropped).
_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "api.middleware.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
}
# A spawned worker answers uvicorn's health check only once it has imported the app; on a busy
# host that takes longer than uvicorn's default 5 s, which kills and respawns it in a loop.
_WORKER_HEALTHCHECK_SECONDS = 60


def _configure_logging() -> None:
    from api.middleware import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def _require_writable(settings: Settings) -> None:
    """Refuse, saying why, a data directory the server cannot write to (a read-only snapshot or
    mount): opening its database would fail later with only "cannot reach the database"."""
    directories = [settings.blob_dir / ".tmp"]
    if settings.database_url is None:
        directories.insert(0, settings.data_dir)
    for directory in directories:
        if not directory.is_dir():
            continue  # opening the vault says what is missing
        probe = directory / f".write-probe-{secrets.token_hex(8)}"
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
        except OSError as exc:
            read_only = exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
            state = "is read-only" if read_only else "cannot be written"
            raise StorageError(
                f"the data directory {state} ({exc.strerror}): `vault serve` needs to write to "
                "it; `vault fsck` and `vault audit verify` check a read-only copy as it is"
            ) from None


def serve(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (all share the vault).")
    ] = 1,
) -> None:
    """Serve the HTTP API (docs at /docs, schema at /openapi.json)."""
    import uvicorn

    settings = load_settings(data_dir)
    from vault.instance import Vault

    _require_writable(settings)
    Vault.open(settings).close()  # fail here, with a clear message, if there is no vault
    # Workers are separate processes: they rebuild the same settings from the environment.
    os.environ["VAULT_DATA_DIR"] = str(Path(settings.data_dir).absolute())
    _configure_logging()
    typer.echo(f"Serving the vault in {settings.data_dir} on http://{host}:{port}", err=True)
    missing = [tool for tool in ("tesseract", "pdftotext") if shutil.which(tool) is None]
    if missing:
        # Exports fail closed without them (503 for every redacted PDF or image export).
        typer.echo(
            f"warning: {' and '.join(missing)} not installed: redacted PDF and image exports "
            "will be refused until they are (scripts/system-deps installs them)",
            err=True,
        )
    uvicorn.run(
        "api.asgi:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # uvicorn's access log prints client addresses and raw paths
        log_config=_LOG_CONFIG,
        timeout_worker_healthcheck=_WORKER_HEALTHCHECK_SECONDS,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # httptools with a deadline and a size limit for the request head: uvicorn alone waits
        # for ever for a client that connects and sends nothing, or half a request line, and
        # lets a head grow as large as the client likes (api.protocol).
        http="api.protocol:HeadTimeoutProtocol",
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
