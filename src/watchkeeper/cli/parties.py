"""``parties`` commands: the states registry, and whether an instrument applies between two
states on a date, and why.

``status`` without ``--with`` compares with this node's own country (its identity's
``country``); without a state it lists every state's standing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import message, print_json, show_record, show_rows
from watchkeeper.cooperation.instruments import Instrument, get_instrument
from watchkeeper.cooperation.parties import Applicability, applicability, general_date
from watchkeeper.cooperation.states import (
    get_state,
    list_states,
    participation,
    set_state,
    state_document,
)
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.node import Node

DATE = click.DateTime(formats=["%Y-%m-%d"])
LIST_COLUMNS = ["code", "name", "reio", "languages", "central_authority", "poc", "updated_by"]
STATUS_COLUMNS = ["code", "name", "signed", "deposited", "in_force", "denounced", "verified"]


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _own_country(node: Node) -> str | None:
    try:
        return node.identity().country
    except NotFound:
        return None


def applicability_document(result: Applicability) -> dict[str, Any]:
    """The answer as plain JSON-able data."""
    return {
        "applies": result.applies,
        "instrument": result.instrument,
        "on": result.on.isoformat(),
        "states": list(result.states),
        "in_force": {
            code: (day.isoformat() if day else None) for code, day in result.in_force.items()
        },
        "reasons": list(result.reasons),
    }


@click.group("parties")
def parties() -> None:
    """States registry: parties, dates, reservations, authorities and languages."""


@parties.command("status")
@click.argument("state", required=False)
@click.option("--with", "other", default=None, help="The other state (default: this node's).")
@click.option("--on", "on", type=DATE, default=None, help="Date YYYY-MM-DD (default: today).")
@click.option("--instrument", default=None, help="Instrument id (default: the default pack).")
@json_option
@pass_cli
def parties_status(
    cli: CliContext,
    state: str | None,
    other: str | None,
    on: datetime | None,
    instrument: str | None,
    as_json: bool,
) -> None:
    """Whether the instrument applies between STATE and another state on a date, and why."""
    node = cli.node()
    pack = get_instrument(node.data_dir, instrument)
    day = _day(on) or node.clock.now().date()
    partner = other or _own_country(node)
    if state is None:
        _status_all(node, pack, day, partner, as_json=as_json)
        return
    if partner is None:
        raise InvalidInput(
            "give --with STATE, or set this node's country with `watchkeeper node init`",
            field="with",
        )
    with node.database.reader() as session:
        result = applicability(session, instrument=pack, a=state, b=partner, on=day)
    if as_json:
        print_json(applicability_document(result))
        return
    first, second = result.states
    verdict = "applies" if result.applies else "does not apply"
    click.echo(f"{pack.short} {verdict} between {first} and {second} on {day}:")
    for reason in result.reasons:
        click.echo(f"  - {reason}")


def _status_all(
    node: Node, pack: Instrument, day: date, partner: str | None, *, as_json: bool
) -> None:
    rows: list[dict[str, Any]] = []
    with node.database.reader() as session:
        general = general_date(session, instrument=pack)
        for row in list_states(session):
            standing = participation(row, pack.id)
            result = None
            if partner and partner.upper() != row.code:
                result = applicability(session, instrument=pack, a=row.code, b=partner, on=day)
            since = result.in_force.get(row.code) if result else None
            rows.append(
                {
                    "code": row.code,
                    "name": row.name,
                    "reio": bool(row.reio),
                    "signed": standing.signed.isoformat() if standing.signed else None,
                    "deposited": standing.deposited.isoformat() if standing.deposited else None,
                    "ratified": standing.ratified,
                    "in_force": since.isoformat() if since else None,
                    "denounced": standing.denounced.isoformat() if standing.denounced else None,
                    "verified": standing.verified,
                    "applies": result.applies if result else None,
                    "reasons": result.reasons if result else [],
                }
            )
    if as_json:
        print_json(
            {
                "instrument": pack.id,
                "on": day.isoformat(),
                "with": partner,
                "general_date": general.isoformat() if general else None,
                "states": rows,
            }
        )
        return
    columns = [*STATUS_COLUMNS, "applies"] if partner else STATUS_COLUMNS
    show_rows(rows, columns, as_json=False, title=f"{pack.short} on {day}")
    when = "not in force (date not known)"
    if general is not None:
        when = f"in force since {general}" if general <= day else f"enters into force on {general}"
    message(f"{pack.short}: {when}" + (f"; 'applies' is with {partner}" if partner else ""))


@parties.command("list")
@json_option
@pass_cli
def parties_list(cli: CliContext, as_json: bool) -> None:
    """Every state in the registry (seeded ones included)."""
    node = cli.node()
    with node.database.reader() as session:
        rows = [state_document(row) for row in list_states(session)]
    show_rows(rows, LIST_COLUMNS, as_json=as_json, title="states")


@parties.command("show")
@click.argument("state")
@json_option
@pass_cli
def parties_show(cli: CliContext, state: str, as_json: bool) -> None:
    """One state with its per-instrument record."""
    node = cli.node()
    with node.database.reader() as session:
        show_record(state_document(get_state(session, state)), as_json=as_json)


@parties.command("set")
@click.argument("state")
@click.option("--name", default=None, help="State name (needed to add a new state).")
@click.option("--central-authority", default=None, help="Central authority (Art. 40(13)).")
@click.option("--poc", default=None, help="24/7 point of contact (Art. 41).")
@click.option(
    "--language", "languages", multiple=True,
    help="Accepted language, ISO 639-1 (repeat or comma-separate; replaces the list).",
)  # fmt: skip
@click.option("--reio/--no-reio", default=None, help="Regional economic integration organisation.")
@click.option("--notes", default=None, help="Free-text notes.")
@click.option("--instrument", default=None, help="Instrument of the dates (default pack).")
@click.option("--signed", type=DATE, default=None, help="Signature date.")
@click.option("--deposited", type=DATE, default=None, help="Deposit of ratification/accession.")
@click.option("--denounced", type=DATE, default=None, help="Date the denunciation was received.")
@click.option("--ratified/--not-ratified", default=None, help="Ratified, deposit date unknown.")
@click.option("--reservation", "reservations", multiple=True, help="Reservation (repeat).")
@click.option("--no-reservations", is_flag=True, help="Clear the reservations.")
@click.option("--verified/--unverified", default=None, help="Checked with the depositary.")
@click.option("--source", default=None, help="Where the facts come from.")
@click.option(
    "--clear", "clear", multiple=True, type=click.Choice(["signed", "deposited", "denounced"]),
    help="Empty a date (repeat).",
)  # fmt: skip
@json_option
@pass_cli
@audit_failures("cooperation.state.set")
def parties_set(
    cli: CliContext,
    state: str,
    name: str | None,
    central_authority: str | None,
    poc: str | None,
    languages: tuple[str, ...],
    reio: bool | None,
    notes: str | None,
    instrument: str | None,
    signed: datetime | None,
    deposited: datetime | None,
    denounced: datetime | None,
    ratified: bool | None,
    reservations: tuple[str, ...],
    no_reservations: bool,
    verified: bool | None,
    source: str | None,
    clear: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add or correct a state: names, contacts, languages, and per-instrument facts."""
    node = cli.node()
    reserved: list[str] | None = [] if no_reservations else (list(reservations) or None)
    per_instrument = (signed, deposited, denounced, ratified, reserved, verified, source)
    instrument_id = instrument
    if instrument_id is None and (any(v is not None for v in per_instrument) or clear):
        instrument_id = get_instrument(node.data_dir).id
    elif instrument_id is not None:
        instrument_id = get_instrument(node.data_dir, instrument_id).id
    spoken = [part for value in languages for part in value.split(",") if part.strip()]
    with node.database.transaction() as session:
        row = set_state(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            code=state,
            name=name,
            central_authority=central_authority,
            poc=poc,
            languages=spoken or None,
            reio=reio,
            notes=notes,
            instrument=instrument_id,
            signed=_day(signed),
            deposited=_day(deposited),
            denounced=_day(denounced),
            ratified=ratified,
            reservations=reserved,
            verified=verified,
            source=source,
            clear=clear,
        )
        document = state_document(row)
    if as_json:
        print_json(document)
        return
    message(f"{document['code']} {document['name']} updated")
