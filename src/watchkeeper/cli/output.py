"""Printing for the CLI: data to stdout (a table, or one JSON document with ``--json``),
messages to stderr, so scripts can pipe the data and people still see what happened."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def print_json(document: Any) -> None:
    """One JSON document on stdout."""
    print(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z).decode())


class Progressed(Protocol):
    """What long work reports to: how much is done, and the total once known."""

    def __call__(self, done: int, total: int | None = None) -> None: ...


@contextmanager
def progress_bar(
    label: str, *, unit: str, quiet: bool, total: int | None = None
) -> Iterator[Progressed]:
    """A progress bar on stderr (none with ``--json`` or off a terminal) for long work:
    ``unit`` "bytes" shows size and speed, any other word counts ``done/total unit``."""
    columns: list[ProgressColumn | str] = [TextColumn(label), BarColumn(bar_width=None)]
    if unit == "bytes":
        columns += [DownloadColumn(), TransferSpeedColumn()]
    else:
        columns.append(TextColumn(f"{{task.completed}}/{{task.total}} {unit}"))
    columns.append(TimeElapsedColumn())
    with Progress(
        *columns, console=err, disable=quiet or not err.is_terminal, transient=True
    ) as bar:
        task = bar.add_task(label, total=total)

        def report(done: int, total: int | None = None) -> None:
            if total is None:
                bar.update(task, completed=done)
            else:
                bar.update(task, completed=done, total=total)

        yield report


def message(text: str) -> None:
    """A message for the person at the terminal (stderr)."""
    err.print(text, highlight=False, markup=False)  # user text: "[pdf]" is not markup


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str = "") -> None:
    """Rows as a table on stdout (or a note on stderr when there are none)."""
    if not rows:
        message(f"no {title or 'rows'}")
        return
    table = Table(title=title or None, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    out.print(table)


def show_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool, title: str
) -> None:
    """Rows as one JSON document (``--json``) or as a table of ``columns``."""
    if as_json:
        print_json(rows)
    else:
        print_table(rows, columns, title=title)


def show_record(document: dict[str, Any], *, as_json: bool) -> None:
    """One object as JSON (``--json``) or as a two-column table of its fields."""
    if as_json:
        print_json(document)
    else:
        print_table([{"field": k, "value": v} for k, v in document.items()], ["field", "value"])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)
