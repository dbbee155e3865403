"""``intel export``: intelligence out to partners and sensors in their formats."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import click
import orjson
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from watchkeeper.cli.context import CliContext, json_option, pass_cli
from watchkeeper.cli.output import err, message, print_json
from watchkeeper.core import KINDS, Tlp, parse_tlp
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import (
    ExportFilters,
    ExportReport,
    ScoringPolicy,
    export,
    export_misp_event,
    export_misp_feed,
)
from watchkeeper.node import Node


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date or time (2026-03-01, 2026-03-01T10:00:00Z)"
        ) from None


@click.command("export")
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
@click.option(
    "--min-score",
    type=click.FloatRange(0, 100),
    help="Only indicators scoring at least this (decay, sightings, false positives).",
)
@click.option("--include-expired", is_flag=True, help="Also indicators whose score fell to 0.")
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
    min_score: float | None,
    include_expired: bool,
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
        min_score=min_score,
        include_expired=include_expired,
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
            scoring=ScoringPolicy.from_settings(node.settings),
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
                scoring=ScoringPolicy.from_settings(node.settings),
            )
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return report
