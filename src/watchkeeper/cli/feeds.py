"""``feeds`` commands: register CSV, plain-text and MISP feeds by name, pull them, forget them;
publish this node's MISP feed for a sharing community.

A feed is defined once (options, or a YAML definition file, or a shipped template named with
``--definition``) and then pulled by name, by a person or a scheduler, always the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.intel import _summary as summarise
from watchkeeper.cli.output import err, message, print_json, show_rows
from watchkeeper.core import KINDS
from watchkeeper.errors import NotFound
from watchkeeper.federation import COMMUNITIES, publish_misp_feed
from watchkeeper.intel import (
    FEED_FORMATS,
    FeedSpec,
    add_feed,
    builtin_definition,
    builtin_definitions,
    list_feeds,
    parse_definition,
    pull_feed,
    read_definition,
    remove_feed,
)

TEMPLATES = {"text": "text", "csv": "csv", "hosts": "hosts", "rpz": "rpz"}


@click.group()
def feeds() -> None:
    """Feeds: named CSV, plain-text and MISP sources of intelligence, pulled on demand."""


@feeds.command("list")
@json_option
@pass_cli
def feeds_list(cli: CliContext, as_json: bool) -> None:
    """Registered feeds with their definition and last pull."""
    node = cli.node()
    with node.database.reader() as session:
        rows = list_feeds(session)
    show_rows(
        rows,
        ["name", "format", "type", "source", "tlp", "confidence", "lifetime", "last_pull_at"],
        as_json=as_json,
        title="feeds",
    )


def _base(definition: str | None, fmt: str | None) -> dict[str, Any]:
    """The definition to start from: a YAML file, a shipped template, or the format's template."""
    if definition is not None:
        path = Path(definition)
        spec = read_definition(path) if path.exists() else builtin_definition(definition)
        if fmt is not None and fmt != spec.format:
            raise click.BadParameter(
                f"the definition is for format {spec.format}, not {fmt}", param_hint="--format"
            )
        return spec.document()
    chosen = fmt or "text"
    if chosen in TEMPLATES:
        return builtin_definitions()[TEMPLATES[chosen]].document()
    return {"format": chosen}


def build_definition(
    name: str,
    *,
    source: str | None,
    definition: str | None,
    overrides: dict[str, Any],
) -> FeedSpec:
    """The checked definition of ``feeds add``: the base, then the name, source and options."""
    document = _base(definition, overrides.get("format"))
    document.update({key: value for key, value in overrides.items() if value is not None})
    document["name"] = name
    if source is not None:
        document["source"] = source
    return parse_definition(document, where=definition or "feeds add")


@feeds.command("add")
@click.argument("name")
@click.option("--source", help="Path or http(s) URL of the list (or MISP feed directory).")
@click.option("--format", "fmt", type=click.Choice(FEED_FORMATS), help="Format of the list.")
@click.option(
    "--type", "kind", type=click.Choice(["auto", *KINDS]), help="Kind of every value, or auto."
)
@click.option("--tlp", help="TLP 2.0 level of the indicators (clear, green, amber, ...).")
@click.option("--confidence", type=click.IntRange(0, 100), help="Confidence, 0 to 100.")
@click.option("--lifetime", help="How long an indicator stays valid, e.g. 30d, 12h, 2w.")
@click.option(
    "--definition",
    help="A YAML definition file, or a shipped template (ip-list, abuse-csv, hosts, rpz...).",
)
@pass_cli
@audit_failures("feed.add")
def feeds_add(
    cli: CliContext,
    name: str,
    source: str | None,
    fmt: str | None,
    kind: str | None,
    tlp: str | None,
    confidence: int | None,
    lifetime: str | None,
    definition: str | None,
) -> None:
    """Register feed NAME (its source, format and defaults) for later pulls."""
    overrides = {
        "format": fmt,
        "type": kind,
        "tlp": tlp,
        "confidence": confidence,
        "lifetime": lifetime,
    }
    spec = build_definition(name, source=source, definition=definition, overrides=overrides)
    node = cli.node()
    with node.database.transaction() as session:
        add_feed(session, clock=node.clock, actor=cli.principal.actor, definition=spec)
    message(f"feed {spec.name} added ({spec.format} from {spec.source})")


@feeds.command("remove")
@click.argument("name")
@pass_cli
@audit_failures("feed.remove")
def feeds_remove(cli: CliContext, name: str) -> None:
    """Forget feed NAME; the indicators it brought stay until they expire."""
    node = cli.node()
    with node.database.transaction() as session:
        remove_feed(session, clock=node.clock, actor=cli.principal.actor, name=name)
    message(f"feed {name} removed")


@feeds.command("pull")
@click.argument("name")
@json_option
@pass_cli
@audit_failures("intel.import")
def feeds_pull(cli: CliContext, name: str, as_json: bool) -> None:
    """Fetch feed NAME now and import it; prints created/updated/unchanged/rejected."""
    node = cli.node()
    with Progress(
        TextColumn(f"pulling {name}"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed} objects"),
        TimeElapsedColumn(),
        console=err,
        disable=as_json or not err.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task("pull", total=None)

        def progress(done: int) -> None:
            bar.update(task, completed=done)

        report = pull_feed(
            node.database,
            clock=node.clock,
            actor=cli.principal.actor,
            name=name,
            progress=progress,
        )
    if as_json:
        print_json(report.document())
    else:
        summarise(report, as_json=False)
    if report.rejected:
        sys.exit(1)


@feeds.command("publish")
@click.option(
    "--community",
    required=True,
    help=f"The sharing community the feed is for: {', '.join(COMMUNITIES)}.",
)
@click.option(
    "-o",
    "--output",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the feed into (manifest.json, events, hashes.csv).",
)
@click.option(
    "--max-tlp",
    default="green",
    show_default=True,
    help="Most restrictive TLP level in the feed: clear, green or amber (never RED).",
)
@click.option("--organisation", help="Creator organisation of the events (default: this node).")
@json_option
@pass_cli
@audit_failures("intel.export")
def feeds_publish(
    cli: CliContext,
    community: str,
    directory: Path,
    max_tlp: str,
    organisation: str | None,
    as_json: bool,
) -> None:
    """Publish this node's MISP feed for a community: what the sharing policy lets its members
    have, for their MISP instances to pull (put DIR where they read it). Re-run to refresh."""
    node = cli.node()
    if organisation is None:
        try:
            organisation = node.identity().name or node.identity().code
        except NotFound:
            organisation = "Watchkeeper"
    result = publish_misp_feed(
        node.database,
        clock=node.clock,
        actor=cli.principal.actor,
        community=community,
        directory=directory,
        max_tlp=max_tlp,
        organisation=organisation,
    )
    if as_json:
        print_json({**result.document(), "community": community.lower(), "max_tlp": max_tlp})
    else:
        message(
            f"MISP feed for the {community.lower()} community: {result.events} events, "
            f"{result.attributes} attributes in {directory}"
        )
