"""Does an instrument apply between two states on a date, and why.

The arithmetic is data of the instrument pack (``entry_into_force``): the general date is the
``days_after``-th day after the ``instruments_needed``-th deposit (an REIO's instrument does not
count on top of its members'), unless the pack sets ``date`` once it is known. A state
depositing later is bound from the ``later_days_after``-th day after its deposit, or the
general date if that is later; a denunciation takes effect ``denunciation_days`` after notice.
Every answer comes with sentences citing the articles, so an officer can check the reasoning
against the registry and the treaty, and so can a refusal letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from watchkeeper.cooperation.instruments import Instrument
from watchkeeper.cooperation.state_models import CoopState
from watchkeeper.cooperation.states import Participation, list_states, participation


@dataclass(frozen=True)
class Applicability:
    """The answer for one pair of states on one date, with its reasons."""

    applies: bool
    instrument: str
    on: date
    states: tuple[str, str]
    in_force: dict[str, date | None]
    reasons: list[str]


@dataclass(frozen=True)
class _General:
    """The general entry-into-force date and how it was found."""

    date: date | None
    counted: int  # parties counted toward the threshold (dated or not)
    dated: int  # of which with a known deposit date
    overridden: bool


def _general(session: Session, instrument: Instrument) -> _General:
    rule = instrument.entry_into_force
    deposits: list[date] = []
    counted = 0
    for state in list_states(session):
        if state.reio:
            continue
        standing = participation(state, instrument.id)
        if standing.is_party:
            counted += 1
            if standing.deposited is not None:
                deposits.append(standing.deposited)
    if rule.date is not None:
        return _General(rule.date, counted, len(deposits), True)
    found: date | None = None
    if len(deposits) >= rule.instruments_needed:
        deposits.sort()
        found = deposits[rule.instruments_needed - 1] + timedelta(days=rule.days_after)
    return _General(found, counted, len(deposits), False)


def general_date(session: Session, *, instrument: Instrument) -> date | None:
    """When the instrument entered (or enters) into force generally; ``None`` while unknown."""
    return _general(session, instrument).date


def _bound_from(
    instrument: Instrument, standing: Participation, general: date | None
) -> date | None:
    if general is None or standing.deposited is None:
        return None
    later = standing.deposited + timedelta(days=instrument.entry_into_force.later_days_after)
    return max(general, later)


def _bound_until(instrument: Instrument, standing: Participation) -> date | None:
    if standing.denounced is None:
        return None
    return standing.denounced + timedelta(days=instrument.entry_into_force.denunciation_days)


def in_force_date(session: Session, *, instrument: Instrument, state: str) -> date | None:
    """From when the instrument binds ``state`` (``None``: not a party, or not known yet)."""
    found = {row.code: row for row in list_states(session)}.get(state.strip().upper())
    if found is None:
        return None
    return _bound_from(
        instrument,
        participation(found, instrument.id),
        general_date(session, instrument=instrument),
    )


def _art(article: str) -> str:
    return f"Art. {article}" if article else "the instrument"


def _state_reasons(
    instrument: Instrument,
    state: CoopState | None,
    code: str,
    general: _General,
    on: date,
) -> tuple[bool, date | None, list[str]]:
    """Whether ``code`` is bound on ``on``, from when, and why."""
    rule = instrument.entry_into_force
    if state is None:
        return (
            False,
            None,
            [
                f"{code} is not in the states registry (add it with `watchkeeper parties set "
                f"{code} --name NAME`)"
            ],
        )
    standing = participation(state, instrument.id)
    unverified = "" if standing.verified else " (unverified"
    if unverified:
        unverified += f"; source: {standing.source})" if standing.source else ")"
    if not standing.is_party:
        signed = f"signed on {standing.signed}, " if standing.signed else ""
        return (
            False,
            None,
            [
                f"{code} has {signed}not deposited an instrument of ratification, acceptance, "
                f"approval or accession{unverified}"
            ],
        )
    if standing.deposited is None:
        return (
            False,
            None,
            [
                f"{code} is reported to have ratified but the deposit date is not recorded"
                f"{unverified}; record it with `watchkeeper parties set {code} --deposited DATE`"
            ],
        )
    bound = _bound_from(instrument, standing, general.date)
    reasons: list[str] = []
    if bound is None:
        reasons.append(
            f"{code} deposited on {standing.deposited}{unverified}; in force for {code} once "
            f"{instrument.short} enters into force"
        )
        applies = False
    else:
        later = rule.later_days_after
        reasons.append(
            f"{code} deposited on {standing.deposited}{unverified}; in force for {code} from "
            f"{bound} ({_art(rule.later_article)}: {_ordinal(later)} day after deposit, or the "
            f"general date if later)"
        )
        applies = bound <= on
        if not applies:
            reasons.append(f"not yet in force for {code} on {on}")
    until = _bound_until(instrument, standing)
    if standing.denounced is not None and until is not None:
        effective = "effective" if until <= on else "takes effect"
        reasons.append(
            f"{code} denounced on {standing.denounced}; {effective} {until} "
            f"({_art(rule.denunciation_article)})"
        )
        if until <= on:
            applies = False
    return applies, bound, reasons


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _general_reason(instrument: Instrument, general: _General, on: date) -> tuple[bool, str]:
    rule = instrument.entry_into_force
    needed = rule.instruments_needed
    if general.date is None:
        undated = general.counted - general.dated
        extra = f", {undated} of them without a recorded date" if undated else ""
        if general.counted >= needed:
            return False, (
                f"{instrument.short}: {general.counted} of the {needed} instruments needed are "
                f"deposited{extra}, so the date of entry into force is not known "
                f"({_art(rule.article)})"
            )
        return False, (
            f"{instrument.short} is not in force: {general.counted} of the {needed} instruments "
            f"needed are deposited{extra} ({_art(rule.article)})"
        )
    how = (
        "the date set in the instrument pack"
        if general.overridden
        else f"{_ordinal(rule.days_after)} day after the {_ordinal(needed)} instrument"
    )
    if general.date > on:
        return False, (
            f"{instrument.short} enters into force on {general.date} ({_art(rule.article)}: "
            f"{how}); not yet on {on}"
        )
    return (
        True,
        f"{instrument.short} is in force since {general.date} ({_art(rule.article)}: {how})",
    )


def applicability(
    session: Session, *, instrument: Instrument, a: str, b: str, on: date
) -> Applicability:
    """Whether ``instrument`` binds both ``a`` and ``b`` on ``on``, with the reasons."""
    first, second = a.strip().upper(), b.strip().upper()
    states = {row.code: row for row in list_states(session)}
    general = _general(session, instrument)
    in_force_generally, general_reason = _general_reason(instrument, general, on)
    reasons = [general_reason]
    applies = in_force_generally
    in_force: dict[str, date | None] = {}
    for code in dict.fromkeys((first, second)):
        bound, since, why = _state_reasons(instrument, states.get(code), code, general, on)
        in_force[code] = since
        reasons.extend(why)
        applies = applies and bound
    if first == second:
        applies = False
        reasons.append(f"{first} is on both sides: cooperation is between two different states")
    return Applicability(
        applies=applies,
        instrument=instrument.id,
        on=on,
        states=(first, second),
        in_force=in_force,
        reasons=reasons,
    )
