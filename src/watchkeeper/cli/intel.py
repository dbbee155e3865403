"""``intel`` commands: import, look up and count threat intelligence."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.intel_export import intel_export
from watchkeeper.cli.output import err, message, print_json, show_rows
from watchkeeper.core import KINDS
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import (
    FORMATS,
    FeedDefinition,
    FeedSpec,
    ImportReport,
    Recorded,
    ScoringPolicy,
    builtin_definition,
    detect_format,
    expand,
    explain_score,
    get_feed,
    import_misp,
    import_misp_feed,
    import_stix,
    import_text,
    intel_stats,
    lookup,
    parse_definition,
    record_sighting,
    report_false_positive,
    resolve,
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
@click.option(
    "--type",
    "kind",
    type=click.Choice(["auto", *KINDS]),
    help="csv/text: kind of every value (default: that of the --feed definition, else auto).",
)
@click.option("--tlp", help="csv/text: TLP 2.0 level of the indicators (STIX/MISP: refused).")
@json_option
@pass_cli
@audit_failures("intel.import")
def intel_import(
    cli: CliContext,
    paths: tuple[str, ...],
    fmt: str,
    feed: str | None,
    kind: str | None,
    tlp: str | None,
    as_json: bool,
) -> None:
    """Import files, directories, gzip or stdin (-); prints created/updated/unchanged/rejected."""
    inputs = expand(list(paths))
    if fmt == "auto":
        fmt = detect_format(inputs)
    if fmt not in ("csv", "text") and (kind or tlp):
        raise InvalidInput(
            "--type and --tlp apply to csv and text imports; STIX and MISP carry their own",
            field="format",
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
        elif fmt in ("csv", "text"):
            report = import_text(
                node.database,
                clock=node.clock,
                actor=actor,
                inputs=inputs,
                definition=_text_definition(node, fmt=fmt, feed=feed, kind=kind, tlp=tlp),
                source=source,
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


def _text_definition(
    node: Node, *, fmt: str, feed: str | None, kind: str | None, tlp: str | None
) -> FeedSpec:
    """A registered --feed's definition (if it reads this format), else the format's template."""
    spec: FeedSpec | None = None
    if feed is not None:
        with node.database.reader() as session:
            if session.get(FeedDefinition, feed) is not None:
                spec = get_feed(session, name=feed)
    document = (spec if spec and spec.format == fmt else builtin_definition(fmt)).document()
    overrides = {"name": feed, "type": kind, "tlp": tlp}
    document.update({key: value for key, value in overrides.items() if value is not None})
    return parse_definition(document, where="intel import")


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
        hits = lookup(
            session,
            value=value,
            policy=ScoringPolicy.from_settings(node.settings),
            now=node.clock.now(),
        )
    show_rows(
        hits,
        ["kind", "value", "id", "type", "tlp", "confidence", "score", "sightings", "matchable"],
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
        stats = intel_stats(
            session, policy=ScoringPolicy.from_settings(node.settings), now=node.clock.now()
        )
    if as_json:
        print_json(stats)
    else:
        show_rows(stats["objects"], ["type", "current", "versions"], as_json=False, title="objects")
        show_rows(stats["values"], ["kind", "values"], as_json=False, title="values")
        counts = stats["indicators"]
        message(
            f"indicators: {counts['live']} live, {counts['expired']} expired, "
            f"{counts['decayed']} decayed"
        )


intel.add_command(intel_export)


@intel.command("sighting")
@click.argument("target", metavar="VALUE_OR_ID")
@click.option("--count", type=click.IntRange(1), default=1, show_default=True, help="Times seen.")
@click.option("--where", help="Where it was seen: identity/location id, or free text.")
@json_option
@pass_cli
@audit_failures("intel.sighting")
def intel_sighting(
    cli: CliContext, target: str, count: int, where: str | None, as_json: bool
) -> None:
    """Record a sighting of an indicator id, or of every current indicator matching a value."""
    node = cli.node()
    indicator_id, value = resolve(target)
    recorded = record_sighting(
        node.database,
        clock=node.clock,
        actor=cli.principal.actor,
        indicator_id=indicator_id,
        value=value,
        count=count,
        where=where,
    )
    _show_recorded(recorded, what="sighting", as_json=as_json)


@intel.command("false-positive")
@click.argument("target", metavar="VALUE_OR_ID")
@click.option("--reason", required=True, help="Why this is a false positive.")
@json_option
@pass_cli
@audit_failures("intel.false_positive")
def intel_false_positive(cli: CliContext, target: str, reason: str, as_json: bool) -> None:
    """Report an indicator id, or every current indicator matching a value, as false positive."""
    node = cli.node()
    indicator_id, value = resolve(target)
    recorded = report_false_positive(
        node.database,
        clock=node.clock,
        actor=cli.principal.actor,
        indicator_id=indicator_id,
        value=value,
        reason=reason,
    )
    _show_recorded(recorded, what="false positive", as_json=as_json)


def _show_recorded(recorded: Recorded, *, what: str, as_json: bool) -> None:
    if as_json:
        print_json(recorded.document())
        return
    message(f"{what} recorded for {len(recorded.indicators)} indicator(s)")
    for identifier in recorded.indicators:
        message(f"  {identifier}")


@intel.command("score")
@click.argument("target", metavar="VALUE_OR_ID")
@json_option
@pass_cli
def intel_score(cli: CliContext, target: str, as_json: bool) -> None:
    """Explain the score of an indicator (or of each indicator matching a value)."""
    node = cli.node()
    with node.database.reader() as session:
        explained = explain_score(
            session,
            target=target,
            policy=ScoringPolicy.from_settings(node.settings),
            now=node.clock.now(),
        )
    if as_json:
        print_json(explained)
        return
    for entry in explained:
        state = " (expired)" if entry["expired"] else " (decayed)" if entry["decayed"] else ""
        click.echo(f"{entry['id']}: score {entry['score']}{state}")
        click.echo(
            f"  base {entry['base']} = mean(confidence {entry['confidence']}, reliability "
            f"{entry['reliability']} of {entry['best_source'] or 'no source'}) "
            f"+ {entry['sighting_points']} for {entry['recent_sightings']} recent sightings "
            f"(of {entry['sightings']}), x {entry['false_positive_factor']} for "
            f"{entry['false_positives']} false-positive reports"
        )
        click.echo(
            f"  decay {entry['decay']}: {entry['age_days']} of {entry['lifetime_days']} days "
            f"since {entry['anchor']} (kinds {', '.join(entry['kinds']) or '-'})"
        )
