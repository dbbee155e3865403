"""``case`` commands: list, show, open, assign, move, note, merge alerts, link and close cases.

A case is named by its id or its number (``C-2026-0042``). Every change is audited by its use
case as the local operator; refused changes are audited by ``audit_failures``.
"""

from __future__ import annotations

from typing import Any

import click

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, show_record, show_rows
from watchkeeper.respond.cases import (
    DISPOSITIONS,
    SEVERITIES,
    STATUSES,
    add_note,
    assign_case,
    case_view,
    close_case,
    link_cases,
    list_cases,
    merge_alerts,
    open_case,
    set_status,
)

COLUMNS = ["number", "status", "severity", "tlp", "assignee", "title", "updated_at"]


def _done(document: dict[str, Any], *, as_json: bool, text: str) -> None:
    if as_json:
        print_json(document)
    else:
        message(text)


@click.group("case")
def case() -> None:
    """Incident cases: alerts merged, tasks, observables, notes, timeline."""


@case.command("list")
@click.option("--status", "statuses", multiple=True, help="A status, or open (repeatable).")
@click.option("--severity", "severities", multiple=True, type=click.Choice(SEVERITIES))
@click.option("--assignee", help="Cases of this user.")
@click.option("--campaign", help="Cases of this campaign (by name).")
@click.option("--text", "query", help="Searched in number, title and description.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@json_option
@pass_cli
def case_list(
    cli: CliContext,
    statuses: tuple[str, ...],
    severities: tuple[str, ...],
    assignee: str | None,
    campaign: str | None,
    query: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Cases, most recently changed first."""
    node = cli.node()
    with node.database.reader() as session:
        page = list_cases(
            session,
            status=statuses,
            severity=severities,
            assignee=assignee,
            campaign=campaign,
            text=query,
            limit=limit,
        )
    if as_json:
        print_json(page)
        return
    show_rows(page["cases"], COLUMNS, as_json=False, title="cases")
    if page["next_offset"] is not None:
        message(f"{page['total']} cases in all; showing the first {len(page['cases'])}")


@case.command("show")
@click.argument("case_id")
@json_option
@pass_cli
def case_show(cli: CliContext, case_id: str, as_json: bool) -> None:
    """One case: details, tasks, observables, notes, alerts, links and timeline."""
    node = cli.node()
    with node.database.reader() as session:
        view = case_view(session, case_id=case_id)
    if as_json:
        print_json(view)
        return
    show_record(view["case"], as_json=False)
    show_rows(
        view["tasks"],
        ["position", "status", "mandatory", "assignee", "title"],
        as_json=False,
        title="tasks",
    )
    show_rows(
        view["observables"], ["kind", "value", "ioc", "tlp"], as_json=False, title="observables"
    )
    show_rows(
        view["alerts"],
        ["id", "severity", "title", "host", "count", "last_seen"],
        as_json=False,
        title="alerts",
    )
    show_rows(view["notes"], ["created_at", "author", "text"], as_json=False, title="notes")
    show_rows(view["timeline"], ["at", "actor", "summary"], as_json=False, title="timeline")


@case.command("new")
@click.option("--title", required=True)
@click.option("--severity", type=click.Choice(SEVERITIES), help="Default: the template's.")
@click.option("--tlp", help="TLP 2.0 level, e.g. amber+strict (default: the template's, amber).")
@click.option("--template", help="Case template name (built-in or in data_dir/case_templates).")
@click.option("--description", default="")
@click.option("--alert", "alerts", multiple=True, help="Alert id to merge (repeatable).")
@click.option("--parent", help="Parent case id or number.")
@click.option("--campaign", help="Campaign name (created on first use).")
@json_option
@pass_cli
@audit_failures("case.open")
def case_new(
    cli: CliContext,
    title: str,
    severity: str | None,
    tlp: str | None,
    template: str | None,
    description: str,
    alerts: tuple[str, ...],
    parent: str | None,
    campaign: str | None,
    as_json: bool,
) -> None:
    """Open a case."""
    node = cli.node()
    with node.database.transaction() as session:
        opened = open_case(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            title=title,
            severity=severity,
            tlp=tlp,
            description=description,
            template=template,
            alert_ids=alerts,
            parent_id=parent,
            campaign=campaign,
            data_dir=node.data_dir,
        )
    _done(opened, as_json=as_json, text=f"opened case {opened['number']} ({opened['id']})")


@case.command("assign")
@click.argument("case_id")
@click.argument("user")
@json_option
@pass_cli
@audit_failures("case.assign")
def case_assign(cli: CliContext, case_id: str, user: str, as_json: bool) -> None:
    """Give a case to USER (``-`` unassigns)."""
    node = cli.node()
    with node.database.transaction() as session:
        done = assign_case(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            case_id=case_id,
            assignee=None if user == "-" else user,
        )
    _done(done, as_json=as_json, text=f"case {done['number']} assigned to {done['assignee']}")


@case.command("status")
@click.argument("case_id")
@click.argument("status", type=click.Choice([s for s in STATUSES if s != "closed"]))
@click.option("--reason")
@json_option
@pass_cli
@audit_failures("case.status")
def case_status(
    cli: CliContext, case_id: str, status: str, reason: str | None, as_json: bool
) -> None:
    """Move a case to STATUS (closing is ``case close``; investigating reopens)."""
    node = cli.node()
    with node.database.transaction() as session:
        done = set_status(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            case_id=case_id,
            status=status,
            reason=reason,
        )
    _done(done, as_json=as_json, text=f"case {done['number']} is {done['status']}")


@case.command("close")
@click.argument("case_id")
@click.option("--disposition", required=True, type=click.Choice(DISPOSITIONS))
@click.option("--reason", required=True)
@json_option
@pass_cli
@audit_failures("case.close")
def case_close(cli: CliContext, case_id: str, disposition: str, reason: str, as_json: bool) -> None:
    """Close a case; false-positive lowers the score of the indicators behind its alerts."""
    node = cli.node()
    with node.database.transaction() as session:
        done = close_case(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            case_id=case_id,
            disposition=disposition,
            reason=reason,
        )
    text = f"case {done['number']} closed as {done['disposition']}"
    if done["false_positive"]:
        text += f"; reported {len(done['false_positive']['indicators'])} indicator(s) as FP"
    _done(done, as_json=as_json, text=text)


@case.command("note")
@click.argument("case_id")
@click.argument("text")
@json_option
@pass_cli
@audit_failures("case.note")
def case_note(cli: CliContext, case_id: str, text: str, as_json: bool) -> None:
    """Add a note to a case."""
    node = cli.node()
    with node.database.transaction() as session:
        done = add_note(
            session, clock=node.clock, actor=cli.principal.actor, case_id=case_id, text=text
        )
    _done(done, as_json=as_json, text=f"note {done['id']} added")


@case.command("merge")
@click.argument("case_id")
@click.option("--alert", "alerts", multiple=True, required=True, help="Alert id (repeatable).")
@json_option
@pass_cli
@audit_failures("case.merge")
def case_merge(cli: CliContext, case_id: str, alerts: tuple[str, ...], as_json: bool) -> None:
    """Merge alerts into a case (their values and hosts become observables)."""
    node = cli.node()
    with node.database.transaction() as session:
        done = merge_alerts(
            session, clock=node.clock, actor=cli.principal.actor, case_id=case_id, alert_ids=alerts
        )
    _done(
        done,
        as_json=as_json,
        text=f"merged {len(done['merged'])} alert(s) into case {done['case']['number']}; "
        f"{len(done['already'])} already there, {len(done['observables'])} new observable(s)",
    )


@case.command("link")
@click.argument("case_id")
@click.option("--parent", help="Parent case id or number.")
@click.option("--campaign", help="Campaign name (created on first use).")
@json_option
@pass_cli
@audit_failures("case.link")
def case_link(
    cli: CliContext, case_id: str, parent: str | None, campaign: str | None, as_json: bool
) -> None:
    """Make a case the child of another, and/or part of a campaign."""
    if not parent and not campaign:
        raise click.UsageError("give --parent ID or --campaign NAME")
    node = cli.node()
    with node.database.transaction() as session:
        done = link_cases(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            case_id=case_id,
            parent_id=parent,
            campaign=campaign,
        )
    _done(done, as_json=as_json, text=f"case {done['number']} linked")
