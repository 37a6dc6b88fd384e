"""How commands talk back: tables for people and one JSON document for scripts on stdout,
messages and progress on stderr (progress only when stderr is a terminal)."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

__all__ = ["AsJson", "emit", "emit_one", "err", "printable", "progress", "say", "when"]

AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")]


def err() -> Console:
    return Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """A line for the person at the terminal, on stderr so that stdout stays for data."""
    err().print(message)


def when(stamp: str | None) -> str | None:
    """An API timestamp as ``2025-05-01 09:30`` in UTC, for tables."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def printable(text: str) -> str:
    """Text that cannot drive the terminal: control characters (escape sequences above all)
    other than newline and tab become U+FFFD."""
    text = text.replace("\r\n", "\n")
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else "\N{REPLACEMENT CHARACTER}"
        for ch in text
    )


def _cell(value: Any) -> str:
    """A value as text that cannot drive the terminal (see ``printable``)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(printable(str(v)) for v in value) or "-"
    return printable(str(value))


def emit(
    items: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    as_json: bool,
    key: str,
    empty: str,
) -> None:
    """A listing: ``{key: items}`` as JSON, or a table of ``columns`` ((field, heading), ...)."""
    if as_json:
        typer.echo(json.dumps({key: list(items)}, indent=2, ensure_ascii=False))
        return
    if not items:
        say(empty)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for _, heading in columns:
        table.add_column(heading, overflow="fold")
    for item in items:
        # Escaped here, once for every listing: a title such as "[/b]" is text, not a style.
        table.add_row(*(escape(_cell(item.get(field))) for field, _ in columns))
    Console(soft_wrap=not sys.stdout.isatty()).print(table)


def emit_one(item: Mapping[str, Any], fields: Sequence[tuple[str, str]], *, as_json: bool) -> None:
    """One object: as JSON, or ``heading: value`` lines."""
    if as_json:
        typer.echo(json.dumps(item, indent=2, ensure_ascii=False))
        return
    width = max(len(heading) for _, heading in fields)
    for field, heading in fields:
        typer.echo(f"{heading + ':':<{width + 1}} {_cell(item.get(field))}")


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A transfer progress bar with rate and time left while stderr is a terminal; otherwise
    nothing at all. Yields the function to call with each chunk's size."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err(),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
