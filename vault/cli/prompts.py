"""Reading secrets from the person at the terminal or from a file, never from argv."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vault.errors import InvalidInput

__all__ = ["read_passphrase"]


def read_passphrase(
    passphrase_file: Path | None, *, confirm: bool, label: str = "Passphrase"
) -> str:
    """The passphrase from ``passphrase_file`` (its first line) or a no-echo prompt."""
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read the passphrase file: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InvalidInput("the passphrase file is not UTF-8 text") from None
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise InvalidInput("the passphrase file is empty")
        return lines[0]
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for a passphrase: use --passphrase-file")
    value: str = typer.prompt(label, hide_input=True, confirmation_prompt=confirm)
    return value
