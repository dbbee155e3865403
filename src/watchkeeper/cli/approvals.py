"""``approvals`` (list, approve, deny), ``runs`` (list, show, cancel, advance) and ``block``
(list, export) commands.

The local operator votes as a user of the node: ``--as NAME`` (default: the login name), with
that account's roles. The run's requester can never approve, from here or anywhere.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, show_record, show_rows
from watchkeeper.errors import NotFound
from watchkeeper.node import Node
from watchkeeper.respond.approvals import decide, list_approvals
from watchkeeper.respond.blocklist import EXPORT_FORMATS, export_blocklist, list_blocks
from watchkeeper.respond.run_models import APPROVAL_STATUSES, RUN_STATUSES
from watchkeeper.respond.run_views import list_runs, run_document
from watchkeeper.respond.runner import advance_run
from watchkeeper.respond.watchdog import cancel_run
from watchkeeper.security import get_user

APPROVAL_COLUMNS = ["id", "playbook", "step", "prompt", "quorum", "status", "expires_at",
                    "can_vote"]  # fmt: skip
RUN_COLUMNS = ["id", "playbook", "status", "reason", "created_at", "finished_at"]
as_option = click.option(
    "--as", "as_user", metavar="NAME",
    help="Vote as this user of the node (default: your login name).",
)  # fmt: skip


def _voter(node: Node, as_user: str | None) -> tuple[str, list[str]]:
    name = as_user or getpass.getuser()
    with node.database.reader() as session:
        try:
            user = get_user(session, name)
        except NotFound:
            return name, []
        return name, list(user.role_names)


@click.group()
def approvals() -> None:
    """Approvals playbooks wait for: list them, approve or deny."""


@approvals.command("list")
@click.option("--status", type=click.Choice(APPROVAL_STATUSES), default="pending",
              show_default=True)  # fmt: skip
@click.option("--all", "everyone", is_flag=True, help="Also those you cannot vote on.")
@as_option
@json_option
@pass_cli
def approvals_list(cli: CliContext, status: str, everyone: bool, as_user: str | None,
                   as_json: bool) -> None:  # fmt: skip
    """Approvals you may vote on."""
    node = cli.node()
    user, roles = _voter(node, as_user)
    with node.database.reader() as session:
        rows = list_approvals(session, user=user, roles=roles, status=status, everyone=everyone)
    show_rows(rows, APPROVAL_COLUMNS, as_json=as_json, title="approvals")


def _vote(cli: CliContext, approval_id: str, decision: str, comment: str,
          as_user: str | None, as_json: bool) -> None:  # fmt: skip
    node = cli.node()
    user, roles = _voter(node, as_user)
    with node.database.transaction() as session:
        done = decide(session, clock=node.clock, actor_user=user, actor_roles=roles,
                      approval_id=approval_id, decision=decision, comment=comment)  # fmt: skip
    if as_json:
        print_json(done)
    else:
        message(f"{user} voted {decision} on {approval_id}: approval {done['status']}")


@approvals.command("approve")
@click.argument("approval_id")
@click.option("--comment", default="", help="Why (kept with the vote).")
@as_option
@json_option
@pass_cli
@audit_failures("playbook.approval.vote")
def approvals_approve(cli: CliContext, approval_id: str, comment: str, as_user: str | None,
                      as_json: bool) -> None:  # fmt: skip
    """Vote to approve APPROVAL_ID."""
    _vote(cli, approval_id, "approve", comment, as_user, as_json)


@approvals.command("deny")
@click.argument("approval_id")
@click.option("--comment", default="", help="Why (kept with the vote).")
@as_option
@json_option
@pass_cli
@audit_failures("playbook.approval.vote")
def approvals_deny(cli: CliContext, approval_id: str, comment: str, as_user: str | None,
                   as_json: bool) -> None:  # fmt: skip
    """Vote to deny APPROVAL_ID (one deny refuses the request)."""
    _vote(cli, approval_id, "deny", comment, as_user, as_json)


@click.group()
def runs() -> None:
    """Playbook runs: list, show, cancel, advance now."""


@runs.command("list")
@click.option("--status", type=click.Choice(RUN_STATUSES), multiple=True)
@click.option("--playbook", default=None)
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@json_option
@pass_cli
def runs_list(cli: CliContext, status: tuple[str, ...], playbook: str | None, limit: int,
              as_json: bool) -> None:  # fmt: skip
    """The newest runs."""
    with cli.node().database.reader() as session:
        rows = list_runs(session, status=list(status), playbook=playbook, limit=limit)
    show_rows(rows, RUN_COLUMNS, as_json=as_json, title="runs")


@runs.command("show")
@click.argument("run_id")
@json_option
@pass_cli
def runs_show(cli: CliContext, run_id: str, as_json: bool) -> None:
    """One run with its steps."""
    with cli.node().database.reader() as session:
        document = run_document(session, run_id=run_id)
    if as_json:
        print_json(document)
        return
    steps, approvals_ = document.pop("steps"), document.pop("approvals")
    document.pop("event"), document.pop("vars")
    show_record(document, as_json=False)
    show_rows(steps, ["path", "kind", "status", "attempt", "duration_seconds", "error"],
              as_json=False, title="steps")  # fmt: skip
    if approvals_:
        show_rows(approvals_, ["id", "step", "quorum", "status", "expires_at"], as_json=False,
                  title="approvals")  # fmt: skip


@runs.command("cancel")
@click.argument("run_id")
@click.option("--reason", required=True, help="Why the run is cancelled.")
@json_option
@pass_cli
@audit_failures("playbook.run.cancel")
def runs_cancel(cli: CliContext, run_id: str, reason: str, as_json: bool) -> None:
    """End RUN_ID as cancelled."""
    node = cli.node()
    with node.database.transaction() as session:
        done = cancel_run(session, clock=node.clock, actor=cli.principal.actor, run_id=run_id,
                          reason=reason)  # fmt: skip
    if as_json:
        print_json(done)
    else:
        message(f"run {run_id} cancelled")


@runs.command("advance")
@click.argument("run_id")
@json_option
@pass_cli
def runs_advance(cli: CliContext, run_id: str, as_json: bool) -> None:
    """Advance RUN_ID now (as the serving node's runner would) until it waits or ends."""
    node = cli.node()
    state = advance_run(node=node, run_id=run_id)
    with node.database.reader() as session:
        document = run_document(session, run_id=run_id)
    if as_json:
        print_json(document)
    else:
        message(f"run {run_id}: {document['status']} ({state})")


@click.group()
def block() -> None:
    """The blocklist playbooks fill: list it, export it for resolvers and firewalls."""


@block.command("list")
@json_option
@pass_cli
def block_list(cli: CliContext, as_json: bool) -> None:
    """Entries in force."""
    node = cli.node()
    with node.database.reader() as session:
        rows = list_blocks(session, now=node.clock.now())
    show_rows(rows, ["kind", "value", "reason", "added_at", "expires_at"], as_json=as_json,
              title="blocklist entries")  # fmt: skip


@block.command("export")
@click.option("--format", "format_", type=click.Choice(EXPORT_FORMATS), default="rpz",
              show_default=True)  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: stdout).")  # fmt: skip
@pass_cli
def block_export(cli: CliContext, format_: str, output: Path | None) -> None:
    """The entries in force as an RPZ zone, a plain list or iptables commands."""
    node = cli.node()
    with node.database.reader() as session:
        rows = list_blocks(session, now=node.clock.now())
    text = export_blocklist(rows, format=format_, now=node.clock.now())
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        message(f"{len(rows)} entries written to {output}")
