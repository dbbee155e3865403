"""``request`` commands for incoming requests, the clocks and the messages: the 24/7 inbox,
acknowledgement, checks, preservation and renewal, other steps, consultation, decisions,
results, deadlines; export and import of signed files, a delivery round, the outbox.

Each acting command takes ``--as USER`` (see ``requests``) and says in one line what
happened and what comes next; what it has to tell the requesting state is delivered at once
when the partner answers, and retried from the outbox otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, show_rows
from watchkeeper.cli.requests import acting, as_option, deliver_now, done, request
from watchkeeper.cooperation import (
    accept_results,
    acknowledge,
    advance,
    check_incoming,
    consult,
    deadline_rows,
    decide,
    deliver_due,
    export_messages,
    find_request,
    import_messages,
    inbox_page,
    mark_exported,
    outbox_status,
    preserve,
    renew_order,
    request_document,
    send_results,
)
from watchkeeper.cooperation.transport import receipts_file
from watchkeeper.errors import Conflict, InvalidInput
from watchkeeper.evidence import find_item
from watchkeeper.node import Node

INBOX_COLUMNS = ["flag", "reference", "type", "from_state", "status", "assignee", "clock",
                 "received_at"]  # fmt: skip
DEADLINE_COLUMNS = ["flag", "reference", "kind", "due_at", "direction", "status", "assignee"]


def _tell(node: Node, document: dict[str, Any], text: str) -> str:
    """``text``, and where the message to the requesting state is (delivered now if the
    partner answers, else queued)."""
    if document["peer"]:
        text += f"; partner: {deliver_now(node, thread=document['thread'])}"
    return text


def _clock_text(row: dict[str, Any]) -> str:
    clock = row["clock"]
    if clock["seconds_left"] is None:
        return str(clock["state"])
    minutes = int(clock["seconds_left"] // 60)
    if minutes < 0:
        return f"OVERDUE by {-minutes} min"
    return f"{minutes} min left"


@request.command("inbox")
@click.option("--all", "include_closed", is_flag=True, help="Also closed requests.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@json_option
@pass_cli
def request_inbox(cli: CliContext, include_closed: bool, limit: int, as_json: bool) -> None:
    """The 24/7 inbox: unacknowledged requests by due time (overdue marked), then the rest."""
    node = cli.node()
    with node.database.reader() as session:
        page = inbox_page(session, now=node.clock.now(), limit=limit, include_closed=include_closed)
    for row in page["requests"]:
        seconds = row["clock"]["seconds_left"]
        row["overdue"] = row["clock"]["state"] == "overdue"
        row["minutes_left"] = None if seconds is None else int(seconds // 60)
    if as_json:
        print_json(page)
        return
    rows = [
        {**row, "flag": "!" if row["overdue"] else "", "clock": _clock_text(row)}
        for row in page["requests"]
    ]
    show_rows(rows, INBOX_COLUMNS, as_json=False, title="inbox")
    overdue = sum(1 for row in rows if row["flag"])
    message(
        f"{page['waiting']} waiting for acknowledgement ({overdue} overdue), "
        f"{page['in_hand']} in hand"
    )


@request.command("ack")
@click.argument("ref", metavar="ID")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.acknowledged")
def request_ack(cli: CliContext, ref: str, as_user: str | None, as_json: bool) -> None:
    """Acknowledge an incoming request (stops its clock; the requesting state is told)."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        document = request_document(acknowledge(session, node=node, principal=principal, ref=ref))
    number = document["reference"]
    text = f"{number} acknowledged by {principal.actor}; next: watchkeeper request check {number}"
    done(_tell(node, document, text), document, as_json=as_json)


def _step_command(
    cli: CliContext, as_user: str | None, as_json: bool, action: Any, what: str, **kwargs: Any
) -> None:
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        moved = action(session, node=node, principal=principal, **kwargs)
        document = request_document(moved)
    text = f"{document['reference']} {what} by {principal.actor}; now {document['status']}"
    done(_tell(node, document, text), document, as_json=as_json)


@request.command("check")
@click.argument("ref", metavar="ID")
@click.option("--note", default="", help="What was checked.")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.checked")
def request_check(cli: CliContext, ref: str, note: str, as_user: str | None, as_json: bool) -> None:
    """Record that an incoming request was checked for its required contents."""
    _step_command(cli, as_user, as_json, check_incoming, "checked", ref=ref, note=note)


def _evidence_ids(node: Node, refs: tuple[str, ...]) -> list[str]:
    with node.database.reader() as session:
        return [find_item(session, ref).id for ref in refs]


@request.command("preserve")
@click.argument("ref", metavar="ID")
@click.option("--days", type=int, default=None, help="Preservation period (default: minimum).")
@click.option("--evidence", "evidence", multiple=True, help="Evidence item held (repeat).")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.preserved")
def request_preserve(
    cli: CliContext,
    ref: str,
    days: int | None,
    evidence: tuple[str, ...],
    as_user: str | None,
    as_json: bool,
) -> None:
    """Record that the data is preserved under a domestic order (Art 42: at least 60 days)."""
    node = cli.node()
    ids = _evidence_ids(node, evidence) if evidence else None
    _step_command(
        cli, as_user, as_json, preserve, "preserved", ref=ref, days=days, evidence_ids=ids
    )


@request.command("renew")
@click.argument("ref", metavar="ID")
@click.option("--days", type=int, default=None, help="Renewal (default: the order maximum).")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.order-renewed")
def request_renew(
    cli: CliContext, ref: str, days: int | None, as_user: str | None, as_json: bool
) -> None:
    """Renew the domestic preservation order."""
    _step_command(cli, as_user, as_json, renew_order, "order renewed", ref=ref, days=days)


@request.command("step")
@click.argument("ref", metavar="ID")
@click.argument("state")
@click.option("--note", default="", help="Why (required for ineffective-notified).")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.step")
def request_step(
    cli: CliContext, ref: str, state: str, note: str, as_user: str | None, as_json: bool
) -> None:
    """Move an incoming request to STATE, if its state machine allows that step."""
    _step_command(cli, as_user, as_json, advance, f"moved to {state}", ref=ref, to=state, note=note)


@request.command("consult")
@click.argument("ref", metavar="ID")
@click.option("--note", required=True, help="What the requesting state is consulted on.")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.consulted")
def request_consult(
    cli: CliContext, ref: str, note: str, as_user: str | None, as_json: bool
) -> None:
    """Consult the requesting state (needed before refusing or postponing)."""
    _step_command(cli, as_user, as_json, consult, "consultation sent", ref=ref, note=note)


@request.command("decide")
@click.argument("ref", metavar="ID")
@click.option("--grant", "grant", is_flag=True, help="Grant the request.")
@click.option("--partial", "partial", is_flag=True, help="Grant in part.")
@click.option("--conditional", "conditional", is_flag=True, help="Grant with --condition.")
@click.option("--postpone", "postpone", is_flag=True, help="Postpone.")
@click.option("--refuse", "ground", metavar="GROUND", default=None, help="Refuse on GROUND.")
@click.option("--reason", default="", help="The reasons (required but for a plain grant).")
@click.option("--condition", "conditions", multiple=True, help="A condition (repeat).")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.decided")
def request_decide(
    cli: CliContext,
    ref: str,
    grant: bool,
    partial: bool,
    conditional: bool,
    postpone: bool,
    ground: str | None,
    reason: str,
    conditions: tuple[str, ...],
    as_user: str | None,
    as_json: bool,
) -> None:
    """Decide an incoming request: exactly one of --grant, --partial, --conditional,
    --postpone, --refuse GROUND (only the grounds the instrument allows for the type)."""
    chosen = [
        name
        for name, given in (
            ("grant", grant),
            ("partial", partial),
            ("conditional", conditional),
            ("postpone", postpone),
            ("refuse", ground is not None),
        )
        if given
    ]
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one of --grant, --partial, --conditional, --postpone, --refuse GROUND"
        )
    decision = chosen[0]
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        decided = decide(
            session,
            node=node,
            principal=principal,
            ref=ref,
            decision=decision,
            reason=reason,
            ground=ground,
            conditions=list(conditions),
        )
        document = request_document(decided)
    record = document["decision"] or {}
    grounds = f" on {ground} (Art. {record.get('article')})" if ground else ""
    text = (
        f"{document['reference']} decided {decision}{grounds} by {principal.actor}; "
        f"now {document['status']}"
    )
    done(_tell(node, document, text), document, as_json=as_json)


@request.command("respond")
@click.argument("ref", metavar="ID")
@click.option("--evidence", "evidence", multiple=True, required=True, help="Item (repeat).")
@click.option("--authority", required=True, help="The order or decision behind the disclosure.")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.results-sent")
def request_respond(
    cli: CliContext,
    ref: str,
    evidence: tuple[str, ...],
    authority: str,
    as_user: str | None,
    as_json: bool,
) -> None:
    """Answer an executed incoming request with a sealed evidence package."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    ids = _evidence_ids(node, evidence)
    package = send_results(
        node=node, principal=principal, ref=ref, evidence=ids, authority=authority
    )
    with node.database.reader() as session:
        document = request_document(find_request(session, ref))
    text = (
        f"{document['reference']}: results package {package.get('package_id')} "
        f"({len(ids)} item(s)) sent by {principal.actor}; now {document['status']}"
    )
    done(_tell(node, document, text), package, as_json=as_json)


@request.command("deadlines")
@click.option("--days", type=click.IntRange(0, 3650), default=30, show_default=True,
              help="Deadlines passed or due within this many days.")  # fmt: skip
@json_option
@pass_cli
def request_deadlines(cli: CliContext, days: int, as_json: bool) -> None:
    """Open requests with a deadline passed or coming, soonest first."""
    node = cli.node()
    with node.database.reader() as session:
        rows = deadline_rows(session, now=node.clock.now(), horizon_days=days)
    if as_json:
        print_json(rows)
        return
    flagged = [{**row, "flag": "!" if row["overdue"] else ""} for row in rows]
    show_rows(flagged, DEADLINE_COLUMNS, as_json=False, title="deadlines")


# -- messages: files, delivery, outbox --------------------------------------------------------
@request.command("export")
@click.argument("ref", metavar="ID")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path))
@as_option
@pass_cli
@audit_failures("cooperation.message.exported")
def request_export(cli: CliContext, ref: str, output: Path, as_user: str | None) -> None:
    """Write the request's undelivered messages as a signed file (for a partner that is not
    connected); it answers with a receipts file (``request import``)."""
    if output.exists():
        raise Conflict(f"{output} exists; not overwritten (choose another -o)", file=str(output))
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.reader() as session:
        found = find_request(session, ref)
        number = found.reference
        data = export_messages(session, thread=found.thread, peer=found.peer)
    try:
        with output.open("xb") as handle:
            handle.write(data)
    except FileExistsError:
        raise Conflict(f"{output} exists; not overwritten", file=str(output)) from None
    except OSError as exc:
        raise InvalidInput(f"cannot write {output}: {exc.strerror}", file=str(output)) from None
    with node.database.transaction() as session:
        marked = mark_exported(session, clock=node.clock, actor=principal.actor, data=data)
    message(
        f"{number}: {len(marked)} message(s) exported to {output} by {principal.actor}; "
        "next: the partner imports it and sends back its receipts file "
        "(watchkeeper request import FILE)"
    )


def _file_kind(path: Path) -> str | None:
    try:
        kind = orjson.loads(path.read_bytes()).get("watchkeeper")
    except (orjson.JSONDecodeError, AttributeError, OSError):
        return None
    return str(kind) if kind else None


def _receipt_line(receipt: dict[str, Any], *, receipts: bool) -> str:
    result = receipt.get("result") or {}
    said = ", ".join(f"{key}={value}" for key, value in result.items())
    head, status = f"{receipt.get('message_id')}:", receipt.get("status")
    if receipts:  # a partner's receipt of one of our messages
        return f"{head} delivered to {receipt.get('from')} ({status})"
    return f"{head} {status}" + (f" ({said})" if said else "")


@request.command("import")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--receipts", "receipts_out", type=click.Path(path_type=Path),
    help="Write the signed receipts of the imported messages here (for the sender).",
)  # fmt: skip
@json_option
@pass_cli
@audit_failures("cooperation.message.imported")
def request_import(cli: CliContext, path: Path, receipts_out: Path | None, as_json: bool) -> None:
    """Import a signed messages file (or a receipts file) from a partner; exit 1 if any
    entry was refused."""
    node = cli.node()
    if receipts_out is not None and receipts_out.exists():
        raise Conflict(f"{receipts_out} exists; not overwritten", file=str(receipts_out))
    results = import_messages(node, data=path.read_bytes(), source=path.name)
    registered = accept_results(node)
    signed = [item for item in results if isinstance(item.get("receipt"), dict)]
    if receipts_out is not None and signed:
        receipts_out.write_bytes(receipts_file(signed))
    refused = [item["error"] for item in results if "error" in item]
    if as_json:
        print_json({"entries": results, "results": registered})
    else:
        receipts = _file_kind(path) == "receipts"
        for item in results:
            if "error" in item:
                click.echo(f"refused: {item['error']['detail']}")
            else:
                click.echo(_receipt_line(item.get("receipt", item), receipts=receipts))
        for entry in registered:
            click.echo(f"results for {entry['request']}: {entry.get('refused') or 'registered'}")
        summary = f"{len(results) - len(refused)} of {len(results)} entries accepted from {path}"
        if receipts_out is not None and signed:
            summary += f"; receipts written to {receipts_out}"
        message(summary)
    if refused:
        sys.exit(1)


@request.command("deliver")
@json_option
@pass_cli
def request_deliver(cli: CliContext, as_json: bool) -> None:
    """One delivery round now: due messages to partners, received results registered."""
    node = cli.node()
    report = deliver_due(node)
    registered = accept_results(node)
    if as_json:
        print_json({**report.document(), "results": registered})
        return
    for error in report.errors:
        click.echo(f"{error['message_id']} to {error['peer']}: {error['error']}")
    message(
        f"delivered {report.delivered}, failed {report.failed}, still pending {report.pending}; "
        f"{len(registered)} results package(s) registered"
    )


@request.command("outbox")
@json_option
@pass_cli
def request_outbox(cli: CliContext, as_json: bool) -> None:
    """Messages not delivered yet, per partner."""
    node = cli.node()
    with node.database.reader() as session:
        status = outbox_status(session, now=node.clock.now())
    if as_json:
        print_json(status)
        return
    rows = [{"peer": peer, **entry} for peer, entry in status["peers"].items()]
    show_rows(rows, ["peer", "pending", "exported", "attempts"], as_json=False, title="outbox")
    if status["pending"]:
        message(
            f"{status['pending']} pending ({status['failing']} with failed attempts), oldest "
            f"since {status['oldest_pending_at']}"
        )
