"""``intel`` commands: import, look up and count threat intelligence."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import click
import orjson
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import err, message, print_json, show_rows
from watchkeeper.core import KINDS, Tlp, parse_tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import (
    FORMATS,
    ExportFilters,
    ExportReport,
    ImportReport,
    detect_format,
    expand,
    export,
    export_misp_event,
    export_misp_feed,
    import_misp,
    import_misp_feed,
    import_stix,
    intel_stats,
    lookup,
)
from watchkeeper.node import Node


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
    if fmt not in ("stix", "misp", "misp-feed"):
        raise InvalidInput(
            f"format {fmt} is not supported yet; supported: stix, misp, misp-feed", field="format"
        )
    feed_dir = Path(paths[0])
    if fmt == "misp-feed" and (len(paths) != 1 or not feed_dir.is_dir()):
        raise InvalidInput("misp-feed: give the one feed directory (holding manifest.json)")
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
        actor = cli.principal.actor

        def progress(done: int) -> None:
            bar.update(task, completed=done)

        if fmt == "misp-feed":
            report = import_misp_feed(
                node.database,
                clock=node.clock,
                actor=actor,
                directory=feed_dir,
                feed_name=feed or feed_dir.name,
                progress=progress,
            )
        else:
            importer = import_misp if fmt == "misp" else import_stix
            report = importer(
                node.database,
                clock=node.clock,
                actor=actor,
                inputs=inputs,
                source=source,
                progress=progress,
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


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date or time (2026-03-01, 2026-03-01T10:00:00Z)"
        ) from None


@intel.command("export")
@click.option(
    "--format",
    "fmt",
    required=True,
    help="stix, csv, text, suricata (tar archive), zeek, rpz, or an installed plugin's format.",
)
@click.option(
    "--tlp-max",
    default="amber",
    show_default=True,
    help="Most restrictive TLP released: clear, green, amber or amber+strict (RED never).",
)
@click.option(
    "--since",
    callback=_since,
    help="Only objects modified at or after this ISO 8601 time (UTC when no zone is given).",
)
@click.option(
    "--type",
    "types",
    multiple=True,
    help="Only objects of this STIX type (repeatable); value formats default to indicator.",
)
@click.option(
    "--min-confidence", type=click.IntRange(0, 100), help="Only objects with this confidence."
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(KINDS),
    help="Only values of this kind (repeatable; value formats).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (replaced when complete) instead of stdout.",
)
@click.option("--include-warninglisted", is_flag=True, help="Also values on warninglists.")
@click.option("--include-revoked", is_flag=True, help="Also revoked objects.")
@click.option(
    "--include-unmatchable", is_flag=True, help="Also indicators not reducible to values."
)
@click.option("--all-versions", is_flag=True, help="Every stored version, not only current ones.")
@click.option("--report", "report_id", help="misp: export this STIX report as one MISP event.")
@click.option(
    "--feed-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="misp-feed: the directory to write the MISP feed into.",
)
@json_option
@pass_cli
def intel_export(
    cli: CliContext,
    fmt: str,
    tlp_max: str,
    since: datetime | None,
    types: tuple[str, ...],
    min_confidence: int | None,
    kinds: tuple[str, ...],
    output: Path | None,
    include_warninglisted: bool,
    include_revoked: bool,
    include_unmatchable: bool,
    all_versions: bool,
    report_id: str | None,
    feed_dir: Path | None,
    as_json: bool,
) -> None:
    """Export intelligence for partners and sensors, to -o or stdout (summary on stderr).

    Formats misp (one MISP event JSON) and misp-feed (a feed directory, --feed-dir) take
    only --tlp-max among the filters.

    With -o, --json prints the report on stdout; without -o stdout carries the data, so the
    report goes to stderr.
    """
    filters = ExportFilters(
        max_tlp=parse_tlp(tlp_max),
        types=types,
        min_confidence=min_confidence,
        since=since,
        kinds=kinds,
        include_warninglisted=include_warninglisted,
        include_revoked=include_revoked,
        include_unmatchable=include_unmatchable,
        all_versions=all_versions,
    )
    node = cli.node()
    actor = cli.principal.actor
    if fmt in ("misp", "misp-feed"):
        _export_misp(
            node,
            fmt,
            actor=actor,
            max_tlp=filters.max_tlp,
            output=output,
            feed_dir=feed_dir,
            report_id=report_id,
            as_json=as_json,
        )
        return
    if output is None:
        report = export(
            node.database,
            clock=node.clock,
            actor=actor,
            format=fmt,
            target=click.get_binary_stream("stdout"),
            filters=filters,
        )
    else:
        report = _export_to_file(
            node, output, actor=actor, fmt=fmt, filters=filters, bar=not as_json
        )
    if as_json and output is not None:
        print_json(report.document())
    elif as_json:
        click.echo(orjson.dumps(report.document(), option=orjson.OPT_INDENT_2).decode(), err=True)
    else:
        withheld = ", ".join(f"{n} {reason}" for reason, n in sorted(report.skipped.items()))
        added = f" (+{report.markings} TLP definitions)" if report.markings else ""
        message(
            f"export {fmt}: {report.objects} objects{added}, {report.values} values written"
            f"{f' to {output}' if output else ''}; withheld: {withheld or 'nothing'}"
        )


def _export_misp(
    node: Node,
    fmt: str,
    *,
    actor: str,
    max_tlp: Tlp,
    output: Path | None,
    feed_dir: Path | None,
    report_id: str | None,
    as_json: bool,
) -> None:
    if fmt == "misp-feed":
        if feed_dir is None:
            raise InvalidInput(
                "misp-feed writes a directory: give --feed-dir DIR", field="feed_dir"
            )
        result = export_misp_feed(
            node.database, clock=node.clock, actor=actor, directory=feed_dir, max_tlp=max_tlp
        )
        if as_json:
            print_json(result.document())
        else:
            message(
                f"MISP feed: {result.events} events, {result.attributes} attributes in {feed_dir}"
            )
        return
    data = orjson.dumps(
        export_misp_event(
            node.database, clock=node.clock, actor=actor, report=report_id, max_tlp=max_tlp
        )
    )
    if output is None:
        click.get_binary_stream("stdout").write(data)
    else:
        output.write_bytes(data)
        message(f"MISP event written to {output}")


def _export_to_file(
    node: Node, output: Path, *, actor: str, fmt: str, filters: ExportFilters, bar: bool
) -> ExportReport:
    """Write through a temporary file renamed into place, so a sensor never loads half a list."""
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        with (
            partial.open("wb") as target,
            Progress(
                TextColumn("exporting"),
                BarColumn(bar_width=None),
                TextColumn("{task.completed} rows read"),
                TimeElapsedColumn(),
                console=err,
                disable=not (bar and err.is_terminal),
                transient=True,
            ) as progress,
        ):
            task = progress.add_task("export", total=None)
            report = export(
                node.database,
                clock=node.clock,
                actor=actor,
                format=fmt,
                target=target,
                filters=filters,
                progress=lambda done: progress.update(task, completed=done),
            )
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return report
