"""Documentation that cannot fall behind: every route is in docs/api.md, every command in
docs/cli.md, every setting in docs/operations.md."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import typer

from api import create_app
from vault.cli.main import app as cli_app
from vault.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _routes() -> list[tuple[str, str]]:
    app = create_app(Settings())
    found = []
    for path, item in app.openapi()["paths"].items():
        found.extend((method.upper(), path) for method in item)
    assert found, "the app has routes"
    return sorted(found)


@pytest.mark.parametrize(("method", "path"), _routes())
def test_every_route_is_documented(method: str, path: str) -> None:
    # Listed with its path template, e.g. "GET /v1/documents/{document_id}/content" (the route
    # table at the top of docs/api.md).
    assert f"`{method} {path}`" in (DOCS / "api.md").read_text(), f"{method} {path} undocumented"


def _commands(group: Any, prefix: str = "vault") -> list[str]:
    names = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix} {name}"
        # Typer may carry its own copy of Click, so test for a group by what it has.
        if hasattr(command, "commands"):
            names.extend(_commands(command, full))
        else:
            names.append(full)
    return names


@pytest.mark.parametrize("command", _commands(typer.main.get_group(cli_app)))
def test_every_command_is_documented(command: str) -> None:
    assert command in (DOCS / "cli.md").read_text(), f"{command} not in docs/cli.md"


@pytest.mark.parametrize("name", [f.name for f in fields(Settings) if f.name != "extra"])
def test_every_setting_is_documented(name: str) -> None:
    text = (DOCS / "operations.md").read_text()
    assert f"`VAULT_{name.upper()}`" in text, f"VAULT_{name.upper()} not in docs/operations.md"
