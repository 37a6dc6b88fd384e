"""The options every command on a data directory shares (``--data-dir``,
``--passphrase-file``) and the settings they load."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vault.settings import Settings

__all__ = ["DataDir", "PassphraseFile", "load_settings"]

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Vault data directory (env: VAULT_DATA_DIR; default: ./vault-data).",
        show_default=False,
    ),
]
PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the passphrase from the first line of this file instead of prompting.",
    ),
]


def load_settings(data_dir: Path | None) -> Settings:
    return Settings.from_environ(os.environ, data_dir=data_dir)
