"""``request`` commands: draft, check, screen, approve and send cooperation requests, show
them with their timeline or as a printable document, and move the signed messages (now, or
as files for a partner that is not connected).

A request is named by its id or reference (``OUT-2026-000001``). Commands that act take
``--as USER``: the local operator acts as that user of the node, with that user's roles, so
the four-eyes rule (the approver is not the author) and the legal screen can be exercised
from one terminal by the people who hold those roles. Without ``--as`` the operator acts as
themself (``cli:<login>``). Incoming steps (inbox, acknowledgement, decisions, results) are in
``request_flow``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, show_rows
from watchkeeper.cooperation import (
    LANGUAGES,
    SCREEN_CHECKS,
    CoopRequest,
    Problem,
    approve_request,
    blocking,
    deliver_due,
    find_request,
    get_instrument,
    list_messages,
    list_requests,
    new_request,
    parse_fields,
    read_fields,
    record_oral,
    render_request_html,
    render_request_pdf,
    request_document,
    screen_request,
    send_request,
    submit_request,
    timeline,
    update_request,
    validate_request,
    withdraw_request,
)
from watchkeeper.errors import Forbidden
from watchkeeper.node import Node
from watchkeeper.respond.cases import find_case
from watchkeeper.security import Principal, get_user

LIST_COLUMNS = ["reference", "direction", "type", "state", "status", "peer", "updated_at"]
KEY_FIELDS = (
    *("reference", "direction", "type", "instrument", "requesting_state", "requested_state"),
    *("peer", "channel", "language", "urgent", "status", "author", "approver", "case_id"),
    *("sent_at", "acked_at", "ack_due_at", "preserved_until", "order_expires_at"),
    "follow_up_due_at",
)
as_option = click.option(
    "--as", "as_user", metavar="USER",
    help="Act as this user of the node, with that user's roles (default: you, the operator).",
)  # fmt: skip


@click.group("request")
def request() -> None:
    """Cooperation requests (UN Convention against Cybercrime): draft, check, approve, send,
    receive, decide, answer."""


# -- shared helpers (also used by request_flow) --------------------------------------------
def acting(cli: CliContext, node: Node, as_user: str | None) -> Principal:
    """Who acts: the operator, or the node user named by ``--as`` with that user's roles."""
    if not as_user:
        return cli.principal
    with node.database.reader() as session:
        user = get_user(session, as_user)
        if user.disabled:
            raise Forbidden(f"user {user.name!r} is disabled", user=user.name)
        return Principal(
            name=user.name,
            roles=frozenset(user.role_names),
            user_id=user.id,
            via="cli-as",
            extra={"operator": cli.principal.name},
        )


def reference_of(node: Node, ref: str) -> CoopRequest:
    """The request ``ref`` (id or reference), detached for reading after the session."""
    with node.database.reader() as session:
        found = find_request(session, ref)
        session.expunge(found)
        return found


def done(text: str, document: dict[str, Any] | None = None, *, as_json: bool = False) -> None:
    """One line saying what happened (or the request as JSON with ``--json``)."""
    if as_json and document is not None:
        print_json(document)
    else:
        message(text)


def deliver_now(node: Node, *, thread: str) -> str:
    """Try to deliver what is due at once; say where this thread's messages are."""
    report = deliver_due(node)
    with node.database.reader() as session:
        rows = list_messages(session, thread=thread, direction="out", limit=20)
        waiting = [row for row in rows if row.status == "pending"]
        exported = [row for row in rows if row.status == "exported"]
        peer = rows[0].peer if rows else None
    if not rows:
        return "nothing to deliver"
    if waiting:
        why = next((e["error"] for e in report.errors if e["peer"] == peer), waiting[0].last_error)
        return f"queued; partner {peer} unreachable, will retry" + (f" ({why})" if why else "")
    if exported:
        return f"exported to {peer} as a file; waiting for its receipts"
    return f"delivered to {peer} (signed receipt received)"


# -- drafting and checking -------------------------------------------------------------------
def _fields(node: Node, path: Path | None, **extra: Any) -> Any:
    values: dict[str, Any] = {}
    if path is not None:
        values = read_fields(path).model_dump(mode="json", by_alias=True, exclude_unset=True)
    case_ref = extra.pop("case", None)
    if case_ref:
        with node.database.reader() as session:
            values["case_id"] = find_case(session, case_id=case_ref).id
    values.update({key: value for key, value in extra.items() if value is not None})
    return parse_fields(values, source=str(path) if path else "command line")


@request.command("new")
@click.argument("type_", metavar="TYPE")
@click.option("--to", "to_state", required=True, help="Requested state (ISO 3166 code).")
@click.option("--from-file", "from_file", type=click.Path(path_type=Path), help="YAML/JSON.")
@click.option("--instrument", default=None, help="Instrument id (default: the default pack).")
@click.option("--peer", default=None, help="Partner node code (default: the state's node).")
@click.option("--case", "case", default=None, help="Case id or number (C-2026-0042).")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.created")
def request_new(
    cli: CliContext,
    type_: str,
    to_state: str,
    from_file: Path | None,
    instrument: str | None,
    peer: str | None,
    case: str | None,
    as_user: str | None,
    as_json: bool,
) -> None:
    """Draft an outgoing request of TYPE (preservation, stored-data, mla...) to a state."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    fields = _fields(node, from_file, peer=peer, case=case)
    with node.database.transaction() as session:
        created = new_request(
            session,
            node=node,
            actor=principal.actor,
            type=type_,
            to_state=to_state,
            instrument_id=instrument,
            fields=fields,
        )
        document = request_document(created)
    if as_json:
        print_json(document)
        return
    click.echo(document["reference"])
    message(
        f"{document['reference']} drafted by {principal.actor} ({document['type']} to "
        f"{document['requested_state']}); next: watchkeeper request validate "
        f"{document['reference']}"
    )


@request.command("edit")
@click.argument("ref", metavar="ID")
@click.option("--from-file", "from_file", required=True, type=click.Path(path_type=Path))
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.edited")
def request_edit(
    cli: CliContext, ref: str, from_file: Path, as_user: str | None, as_json: bool
) -> None:
    """Change a draft from a file (only the fields it gives; a checked draft is re-checked)."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    fields = _fields(node, from_file)
    with node.database.transaction() as session:
        changed = update_request(session, node=node, actor=principal.actor, ref=ref, fields=fields)
        document = request_document(changed)
    done(
        f"{document['reference']} edited by {principal.actor}; next: watchkeeper request "
        f"validate {document['reference']}",
        document,
        as_json=as_json,
    )


def problem_line(problem: Problem) -> str:
    """One problem as a line: severity, stage, article, field and message."""
    article = f" Art. {problem.article}" if problem.article else ""
    where = f" {problem.field}:" if problem.field else ""
    return f"{problem.severity} [{problem.stage}]{article}{where} {problem.message}"


@request.command("validate")
@click.argument("ref", metavar="ID")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.validated")
def request_validate(cli: CliContext, ref: str, as_user: str | None, as_json: bool) -> None:
    """Check a request: every problem with its article; exit 1 while one blocks it."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        checked, problems = validate_request(session, node=node, principal=principal, ref=ref)
        reference, status = checked.reference, checked.status
    stopping = blocking(problems, "validate")
    if as_json:
        print_json(
            {
                "reference": reference,
                "status": status,
                "ok": not stopping,
                "problems": [problem.document() for problem in problems],
            }
        )
    else:
        for problem in problems:
            click.echo(problem_line(problem))
        if stopping:
            message(f"{reference}: {len(stopping)} problem(s) to fix before it can go")
        else:
            message(f"{reference} is {status}; next: watchkeeper request submit {reference}")
    if stopping:
        sys.exit(1)


# -- the way out: submit, screen, approve, send, withdraw -------------------------------------
@request.command("submit")
@click.argument("ref", metavar="ID")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.submitted")
def request_submit(cli: CliContext, ref: str, as_user: str | None, as_json: bool) -> None:
    """Hand a validated request to the legal reviewer and the approver."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        document = request_document(
            submit_request(session, node=node, principal=principal, ref=ref)
        )
    number = document["reference"]
    done(
        f"{number} submitted by {principal.actor}; next: a legal reviewer runs "
        f"watchkeeper request screen {number} --all-clear",
        document,
        as_json=as_json,
    )


def _checks(answers: tuple[str, ...], all_clear: bool) -> dict[str, bool]:
    checks = dict.fromkeys(SCREEN_CHECKS, True) if all_clear else {}
    for answer in answers:
        name, sep, value = answer.partition("=")
        name, value = name.strip(), value.strip().lower()
        if not sep or name not in SCREEN_CHECKS or value not in ("yes", "no"):
            raise click.BadParameter(
                f"{answer!r}: expected NAME=yes|no with NAME one of {', '.join(SCREEN_CHECKS)}",
                param_hint="--check",
            )
        checks[name] = value == "yes"
    return checks


@request.command("screen")
@click.argument("ref", metavar="ID")
@click.option("--check", "answers", multiple=True, metavar="NAME=yes|no",
              help=f"One answer (repeat): {', '.join(SCREEN_CHECKS)}.")  # fmt: skip
@click.option("--all-clear", is_flag=True, help="Every check answered yes.")
@click.option("--notes", default="", help="The reviewer's notes (required for a 'no').")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.screened")
def request_screen(
    cli: CliContext,
    ref: str,
    answers: tuple[str, ...],
    all_clear: bool,
    notes: str,
    as_user: str | None,
    as_json: bool,
) -> None:
    """The legal reviewer's human-rights and data-protection screen (Arts 6, 24, 36, 40(22))."""
    if not answers and not all_clear:
        raise click.UsageError("give --check NAME=yes|no for each check, or --all-clear")
    checks = _checks(answers, all_clear)
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        document = request_document(
            screen_request(
                session, node=node, principal=principal, ref=ref, checks=checks, notes=notes
            )
        )
    number, findings = document["reference"], document["screen"]["findings"]
    text = (
        f"{number} screen: findings {', '.join(findings)} by {principal.actor}; the request "
        "cannot be approved until they are resolved"
        if findings
        else f"{number} screened by {principal.actor}; next: another person runs "
        f"watchkeeper request approve {number}"
    )
    done(text, document, as_json=as_json)


@request.command("approve")
@click.argument("ref", metavar="ID")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.approved")
def request_approve(cli: CliContext, ref: str, as_user: str | None, as_json: bool) -> None:
    """Approve a screened request (four-eyes: never by its author)."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        document = request_document(
            approve_request(session, node=node, principal=principal, ref=ref)
        )
    number = document["reference"]
    done(
        f"{number} approved by {principal.actor}; next: watchkeeper request send {number}",
        document,
        as_json=as_json,
    )


@request.command("send")
@click.argument("ref", metavar="ID")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.sent")
def request_send(cli: CliContext, ref: str, as_user: str | None, as_json: bool) -> None:
    """Send an approved request: checked again, queued as a signed message, delivered now
    if the partner answers (otherwise retried until it does)."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        sent = send_request(session, node=node, principal=principal, ref=ref)
        number, thread = sent.reference, sent.thread
    where = deliver_now(node, thread=thread)
    with node.database.reader() as session:
        document = request_document(find_request(session, number))
    done(f"{number} sent by {principal.actor}: {where}", document, as_json=as_json)


@request.command("oral")
@click.argument("ref", metavar="ID")
@click.option("--note", required=True, help="Who was called, when, on which line.")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.oral")
def request_oral(cli: CliContext, ref: str, note: str, as_user: str | None, as_json: bool) -> None:
    """Record that an approved urgent request was made orally (Art. 40(14)); confirm it in
    writing forthwith with `request send`."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        document = request_document(
            record_oral(session, node=node, principal=principal, ref=ref, note=note)
        )
    text = (
        f"{document['reference']} made orally ({principal.actor}); written confirmation due "
        f"by {document['confirm_due_at']}: watchkeeper request send {document['reference']}"
    )
    done(text, document, as_json=as_json)


@request.command("withdraw")
@click.argument("ref", metavar="ID")
@click.option("--reason", required=True, help="Why the request is withdrawn.")
@as_option
@json_option
@pass_cli
@audit_failures("cooperation.request.withdrawn")
def request_withdraw(
    cli: CliContext, ref: str, reason: str, as_user: str | None, as_json: bool
) -> None:
    """Withdraw an outgoing request (a sent one tells the partner)."""
    node = cli.node()
    principal = acting(cli, node, as_user)
    with node.database.transaction() as session:
        withdrawn = withdraw_request(
            session, node=node, principal=principal, ref=ref, reason=reason
        )
        document = request_document(withdrawn)
    text = f"{document['reference']} withdrawn by {principal.actor}"
    if document["sent_at"]:
        text += f"; partner: {deliver_now(node, thread=document['thread'])}"
    done(text, document, as_json=as_json)


# -- reading: show, list ---------------------------------------------------------------------
def _full_document(session: Session, ref: str) -> dict[str, Any]:
    found = find_request(session, ref)
    return request_document(found, steps=timeline(session, found))


def _printable(node: Node, document: dict[str, Any], language: str | None) -> str:
    lang = language or (document["language"] if document["language"] in LANGUAGES else "en")
    pack = get_instrument(node.data_dir, document["instrument"])
    spec = [
        (item.key, item.article, item.label)
        for item in pack.request_type(document["type"]).contents
    ]
    return render_request_html(document, language=lang, contents_spec=spec)


def _timeline_line(step: dict[str, Any]) -> str:
    move = f" {step['from']} -> {step['to']}" if step.get("to") else ""
    detail = step.get("detail") or {}
    extra = "; ".join(f"{key}={value}" for key, value in detail.items() if value not in ("", None))
    return f"{step['at']}  {step['actor']}  {step['action']}{move}" + (
        f"  ({extra})" if extra else ""
    )


@request.command("show")
@click.argument("ref", metavar="ID")
@click.option("--html", "html_file", type=click.Path(path_type=Path), help="Write the document.")
@click.option("--pdf", "pdf_file", type=click.Path(path_type=Path), help="Write it as PDF.")
@click.option("--lang", type=click.Choice(LANGUAGES), default=None,
              help="Language of the document (default: the request's, else en).")  # fmt: skip
@json_option
@pass_cli
def request_show(
    cli: CliContext,
    ref: str,
    html_file: Path | None,
    pdf_file: Path | None,
    lang: str | None,
    as_json: bool,
) -> None:
    """One request with its timeline; or its printable document (HTML, PDF)."""
    node = cli.node()
    with node.database.reader() as session:
        document = _full_document(session, ref)
    if html_file is not None or pdf_file is not None:
        html = _printable(node, document, lang)
        if pdf_file is not None:
            pdf_file.write_bytes(render_request_pdf(html))
            message(f"{document['reference']}: PDF written to {pdf_file}")
        if html_file is not None:
            html_file.write_text(html, encoding="utf-8")
            message(f"{document['reference']}: HTML written to {html_file}")
        return
    if as_json:
        print_json(document)
        return
    for key in KEY_FIELDS:
        if document.get(key) not in (None, ""):
            click.echo(f"{key}: {document[key]}")
    for name, text in (document["contents"] or {}).items():
        click.echo(f"contents.{name}: {text}")
    if document["decision"]:
        click.echo(f"decision: {document['decision']}")
    click.echo("timeline:")
    for step in document["timeline"]:
        click.echo(f"  {_timeline_line(step)}")


@request.command("list")
@click.option("--direction", type=click.Choice(["in", "out"]), default=None)
@click.option("--status", default=None, help="Only this status.")
@click.option("--type", "type_", default=None, help="Only this request type.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@json_option
@pass_cli
def request_list(
    cli: CliContext,
    direction: str | None,
    status: str | None,
    type_: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Requests, newest first."""
    node = cli.node()
    with node.database.reader() as session:
        rows = [
            request_document(found)
            for found in list_requests(
                session, direction=direction, status=status, type=type_, limit=limit
            )
        ]
    for row in rows:
        row["state"] = (
            row["requested_state"] if row["direction"] == "out" else row["requesting_state"]
        )
    show_rows(rows, LIST_COLUMNS, as_json=as_json, title="requests")


from watchkeeper.cli import request_flow  # noqa: E402, F401  (incoming steps, deadlines)
