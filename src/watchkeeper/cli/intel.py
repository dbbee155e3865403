"""``intel`` commands: import, look up and count threat intelligence."""

from __future__ import annotations

import sys

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import err, message, print_json, show_rows
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import (
    FORMATS,
    ImportReport,
    detect_format,
    expand,
    import_stix,
    intel_stats,
    lookup,
)


@click.group()
def intel() -> None:
    """Threat intelligence: STIX 2.1 store, imports, look-ups."""


@intel.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *FORMATS]),
    default="auto",
    help="Input format (auto detects it per import).",
)
@click.option("--feed", default=None, help="Name of the feed this data comes from.")
@json_option
@pass_cli
@audit_failures("intel.import")
def intel_import(
    cli: CliContext, paths: tuple[str, ...], fmt: str, feed: str | None, as_json: bool
) -> None:
    """Import files, directories, gzip or stdin (-); prints created/updated/unchanged/rejected."""
    inputs = expand(list(paths))
    if fmt == "auto":
        fmt = detect_format(inputs)
    if fmt != "stix":
        raise InvalidInput(f"format {fmt} is not supported yet; supported: stix", field="format")
    source = f"feed:{feed}" if feed else "files:" + ",".join(paths)[:480]
    node = cli.node()
    show_progress = not as_json and err.is_terminal
    with Progress(
        TextColumn("importing"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed} objects"),
        TimeElapsedColumn(),
        console=err,
        disable=not show_progress,
        transient=True,
    ) as bar:
        task = bar.add_task("import", total=None)
        report = import_stix(
            node.database,
            clock=node.clock,
            actor=cli.principal.actor,
            inputs=inputs,
            source=source,
            progress=lambda done: bar.update(task, completed=done),
        )
    _summary(report, as_json=as_json)
    if report.rejected:
        sys.exit(1)


def _summary(report: ImportReport, *, as_json: bool) -> None:
    if as_json:
        print_json(report.document())
        return
    total = report.created + report.updated + report.unchanged
    rate = total / report.seconds if report.seconds else 0.0
    message(
        f"import {report.id}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.rejected} rejected, "
        f"{report.warninglisted} warninglisted in {report.seconds:.1f} s ({rate:,.0f} objects/s)"
    )
    for item in report.rejects[:20]:
        where = item.file + (f" object {item.index}" if item.index is not None else "")
        message(f"  rejected {where}{f' ({item.id})' if item.id else ''}: {item.reason}")
    if report.rejected > 20:
        message(f"  … {report.rejected - 20} more (use --json for the first {len(report.rejects)})")


@intel.command("lookup")
@click.argument("value")
@json_option
@pass_cli
def intel_lookup(cli: CliContext, value: str, as_json: bool) -> None:
    """Every stored object that carries VALUE (normalised), including parent domains and CIDRs."""
    node = cli.node()
    with node.database.reader() as session:
        hits = lookup(session, value=value)
    show_rows(
        hits,
        ["kind", "value", "id", "type", "tlp", "confidence", "matchable"],
        as_json=as_json,
        title="matches",
    )


@intel.command("stats")
@json_option
@pass_cli
def intel_stats_command(cli: CliContext, as_json: bool) -> None:
    """Counts of stored objects by type, and of indexed values by kind."""
    node = cli.node()
    with node.database.reader() as session:
        stats = intel_stats(session)
    if as_json:
        print_json(stats)
    else:
        show_rows(stats["objects"], ["type", "current", "versions"], as_json=False, title="objects")
        show_rows(stats["values"], ["kind", "values"], as_json=False, title="values")
