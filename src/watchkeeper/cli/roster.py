"""``roster`` commands: who is on 24/7 duty, putting people on duty and taking shifts off.

Times are ISO 8601 (``2026-03-01T08:00+01:00``); a time without an offset is taken as UTC, so
a roster typed on a laptop in another time zone still means the same instants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, show_record, show_rows
from watchkeeper.cooperation import (
    add_shift,
    list_shifts,
    on_duty,
    remove_shift,
    shift_document,
)

COLUMNS = ["id", "person", "rank", "starts_at", "ends_at", "contact"]


def parse_time(value: str) -> datetime:
    """An ISO 8601 time (UTC when it names no offset), or ``now``."""
    if value.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time (2026-03-01T08:00, 2026-03-01T08:00+01:00)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


@click.group("roster")
def roster() -> None:
    """The 24/7 duty roster: who answers incoming requests, and who is called next."""


@roster.command("show")
@click.option("--at", "at", default=None, callback=_time, help="ISO 8601 time (default: now).")
@click.option("--all", "show_all", is_flag=True, help="Also list every shift not ended by then.")
@json_option
@pass_cli
def roster_show(cli: CliContext, at: datetime | None, show_all: bool, as_json: bool) -> None:
    """Who is on duty at a time, in the order they are called."""
    node = cli.node()
    moment = at or node.clock.now()
    with node.database.reader() as session:
        duty = [shift_document(shift) for shift in on_duty(session, at=moment)]
        shifts = list_shifts(session, since=moment) if show_all else None
    if as_json:
        document: dict[str, Any] = {"at": moment, "on_duty": duty}
        if shifts is not None:
            document["shifts"] = shifts
        print_json(document)
        return
    title = f"on duty at {moment:%Y-%m-%d %H:%M} UTC"
    show_rows(duty, COLUMNS, as_json=False, title=title)
    if shifts is not None:
        show_rows(shifts, COLUMNS, as_json=False, title="shifts")


@roster.command("set")
@click.argument("person")
@click.option("--from", "starts_at", required=True, callback=_time, help="Start (ISO 8601).")
@click.option("--until", "ends_at", required=True, callback=_time, help="End (ISO 8601).")
@click.option("--rank", default=1, show_default=True, type=int, help="Order of call (1 first).")
@click.option("--contact", default="", help="How to reach the person on this shift.")
@json_option
@pass_cli
@audit_failures("cooperation.roster.set")
def roster_set(
    cli: CliContext,
    person: str,
    starts_at: datetime,
    ends_at: datetime,
    rank: int,
    contact: str,
    as_json: bool,
) -> None:
    """Put PERSON (a poc-officer, central-authority or admin user) on duty for a period."""
    node = cli.node()
    with node.database.transaction() as session:
        shift = add_shift(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            person=person,
            starts_at=starts_at,
            ends_at=ends_at,
            rank=rank,
            contact=contact,
        )
        document = shift_document(shift)
    if as_json:
        print_json(document)
        return
    message(
        f"shift {document['id']}: {person} on duty from {document['starts_at']:%Y-%m-%d %H:%M} "
        f"until {document['ends_at']:%Y-%m-%d %H:%M} UTC, rank {rank}"
    )
    show_record(document, as_json=False)


@roster.command("remove")
@click.argument("shift_id", metavar="ID", type=int)
@pass_cli
@audit_failures("cooperation.roster.remove")
def roster_remove(cli: CliContext, shift_id: int) -> None:
    """Take shift ID off the roster."""
    node = cli.node()
    with node.database.transaction() as session:
        remove_shift(session, clock=node.clock, actor=cli.principal.actor, shift_id=shift_id)
    message(f"shift {shift_id} removed")
