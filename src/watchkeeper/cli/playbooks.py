"""``playbook`` commands: list, validate, enable, disable, show, and run (``--dry-run`` here;
a real run goes through the runner's ``start_manual_run``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, out, print_json, show_record, show_rows
from watchkeeper.errors import InternalError, InvalidInput
from watchkeeper.node import Node
from watchkeeper.respond.dry_run import ActionInfo, dry_run, dry_run_text
from watchkeeper.respond.playbook_files import (
    load_playbooks,
    parse_playbook,
)
from watchkeeper.respond.playbook_grammar import STANDARD_ACTIONS
from watchkeeper.respond.playbook_model import Playbook
from watchkeeper.respond.playbook_store import (
    SyncReport,
    disable_playbook,
    enable_playbook,
    get_playbook,
    list_playbooks,
    sync_playbooks,
    user_playbook_dir,
)

COLUMNS = ["name", "status", "version", "revision", "trigger", "builtin", "file"]


def _actions() -> dict[str, ActionInfo]:
    """The runner's action registry (names and side effects), or the standard names."""
    try:
        from watchkeeper.respond.actions import default_actions
    except ImportError:  # pragma: no cover - the runner is part of the package
        return {}
    registry = default_actions()
    return {name: registry.get(name) for name in registry.names()}


def _sync(cli: CliContext, *, quiet: bool = False) -> tuple[Node, SyncReport]:
    node = cli.node()
    with node.database.transaction() as session:
        report = sync_playbooks(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            paths=[user_playbook_dir(node.data_dir)],
            known_actions=set(_actions()) or STANDARD_ACTIONS,
        )
    if not quiet:
        for error in report.errors[:20]:
            message(f"playbook not loaded: {error.message}")
    return node, report


@click.group()
def playbook() -> None:
    """Playbooks: YAML files (built-ins plus data_dir/playbooks), their versions and dry runs."""


@playbook.command("list")
@click.option("--all", "all_versions", is_flag=True, help="Every version, not one per name.")
@json_option
@pass_cli
def playbook_list(cli: CliContext, all_versions: bool, as_json: bool) -> None:
    """Playbooks (files are loaded first: a changed file becomes a new draft version)."""
    node, _ = _sync(cli)
    with node.database.reader() as session:
        rows = list_playbooks(session, all_versions=all_versions)
    show_rows(rows, COLUMNS, as_json=as_json, title="playbooks")


@playbook.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
def playbook_validate(paths: tuple[Path, ...], as_json: bool) -> None:
    """Check playbook files; every problem is printed as file:line: key: message (exit 1)."""
    playbooks, errors = load_playbooks(
        paths=paths, known_actions=set(_actions()) or STANDARD_ACTIONS
    )
    if as_json:
        print_json(
            {
                "valid": [
                    {"name": p.name, "version": p.version, "file": p.file} for p in playbooks
                ],
                "errors": [{"message": e.message, **e.fields} for e in errors],
            }
        )
    else:
        for item in playbooks:
            message(
                f"ok: {item.file}: {item.name} (version {item.version}, {len(item.steps)} steps)"
            )
        for error in errors:
            out.print(error.message, markup=False, highlight=False)
    if errors:
        sys.exit(1)


@playbook.command("enable")
@click.argument("name")
@click.option("--version", "version", help="Version hash or revision number (default: newest).")
@json_option
@pass_cli
@audit_failures("playbook.enable")
def playbook_enable(cli: CliContext, name: str, version: str | None, as_json: bool) -> None:
    """Make a version of NAME the active one (the one triggers start)."""
    node, _ = _sync(cli)
    with node.database.transaction() as session:
        document = enable_playbook(
            session, clock=node.clock, actor=cli.principal.actor, name=name, version=version
        )
    _done(document, as_json, "enabled")


@playbook.command("disable")
@click.argument("name")
@json_option
@pass_cli
@audit_failures("playbook.disable")
def playbook_disable(cli: CliContext, name: str, as_json: bool) -> None:
    """Switch NAME off: no trigger starts it (runs under way go on)."""
    node, _ = _sync(cli)
    with node.database.transaction() as session:
        document = disable_playbook(session, clock=node.clock, actor=cli.principal.actor, name=name)
    _done(document, as_json, "disabled")


def _done(document: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        print_json(document)
    else:
        message(
            f"{verb} {document['name']} version {document['version']} (r{document['revision']})"
        )


@playbook.command("show")
@click.argument("name")
@click.option("--version", "version", help="Version hash or revision number.")
@click.option("--source", is_flag=True, help="Print the YAML text.")
@json_option
@pass_cli
def playbook_show(
    cli: CliContext, name: str, version: str | None, source: bool, as_json: bool
) -> None:
    """One playbook: the active version, else the newest (or --version)."""
    node, _ = _sync(cli, quiet=True)
    with node.database.reader() as session:
        item = get_playbook(session, name=name, version=version, newest=True)
        versions = list_playbooks(session, name=name, all_versions=True)
    if source:
        click.echo(item.source, nl=False)
        return
    document = _document(item)
    document["versions"] = [
        {k: v[k] for k in ("version", "revision", "status", "file", "loaded_at")} for v in versions
    ]
    if as_json:
        print_json(document)
        return
    steps = document.pop("steps")
    document["versions"] = [f"{v['version']} r{v['revision']} {v['status']}" for v in versions]
    show_record(document, as_json=False)
    show_rows(
        steps,
        ["id", "kind", "action", "when", "side_effects", "line"],
        as_json=False,
        title="steps",
    )


def _document(item: Playbook) -> dict[str, Any]:
    def steps(items: Any, depth: int = 0) -> list[dict[str, Any]]:
        rows = []
        for step in items:
            rows.append(
                {
                    "id": "  " * depth + step.id,
                    "kind": step.kind,
                    "action": step.action,
                    "when": step.when,
                    "side_effects": step.side_effects,
                    "line": step.where.line if step.where else None,
                }
            )
            rows.extend(steps(step.steps, depth + 1))
        return rows

    return {
        "name": item.name,
        "title": item.title,
        "version": item.version,
        "status": item.status,
        "builtin": item.builtin,
        "file": item.file,
        "trigger": item.trigger.event if item.trigger else None,
        "filter": item.trigger.filter if item.trigger else None,
        "vars": item.vars,
        "steps": steps(item.steps),
    }


def _event(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"--event {path}: cannot read: {exc.strerror}", field="event") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"--event {path}: not JSON or YAML: {exc}", field="event") from None
    if not isinstance(document, dict):
        raise InvalidInput(
            f"--event {path}: expected an object with type and payload", field="event"
        )
    return document


@playbook.command("run")
@click.argument("name")
@click.option("--dry-run", "dry", is_flag=True, help="Show what would happen; run no action.")
@click.option(
    "--event",
    "event_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The triggering event (JSON or YAML: type, payload...).",
)
@click.option("--version", "version", help="Dry run: version hash or revision number.")
@json_option
@pass_cli
@audit_failures("playbook.run")
def playbook_run(
    cli: CliContext,
    name: str,
    dry: bool,
    event_file: Path | None,
    version: str | None,
    as_json: bool,
) -> None:
    """Run NAME on an event; --dry-run shows what it would do (NAME may then be a YAML file)."""
    event = _event(event_file)
    if not dry:
        _real_run(cli, name=name, event=event, as_json=as_json)
        return
    actions = _actions()
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        item = parse_playbook(
            text=path.read_text(encoding="utf-8"),
            file=str(path),
            known_actions=set(actions) or STANDARD_ACTIONS,
        )
    else:
        node, _ = _sync(cli, quiet=True)
        with node.database.reader() as session:
            item = get_playbook(session, name=name, version=version, newest=True)
    rows = dry_run(playbook=item, event=event, actions=actions or None)
    if as_json:
        print_json({"playbook": item.name, "version": item.version, "steps": rows})
    else:
        message(f"dry run of {item.name} version {item.version} ({item.status}): no action runs")
        out.print(dry_run_text(rows), markup=False, highlight=False)


def _real_run(cli: CliContext, *, name: str, event: dict[str, Any], as_json: bool) -> None:
    """The runner's seam: ``respond.runner.start_manual_run`` runs it for real."""
    try:
        from watchkeeper.respond.runner import start_manual_run
    except ImportError as exc:  # pragma: no cover - the runner ships with the package
        raise InternalError(
            f"the playbook runner is not available ({exc}); use --dry-run"
        ) from None
    node, _ = _sync(cli, quiet=True)
    document = start_manual_run(
        node=node, actor=cli.principal.actor, playbook_name=name, event=event
    )
    if as_json:
        print_json(document)
    else:
        show_record(document, as_json=False)
