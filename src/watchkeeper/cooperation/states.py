"""The states registry: signature, ratification and denunciation per instrument, reservations,
central authority, 24/7 point of contact and accepted languages of each state.

A seed (``watchkeeper/data/states.yaml``) holds what the legal reference knows, all marked
unverified. Reading never writes: seeded states that were never edited are shown from the seed
as they are; the first edit inserts every missing seed row, then changes the one state, so an
edit is never lost to a later seed and the seed never overwrites an edit. Every change is
audited with its old and new values.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.cooperation.state_models import CoopState
from watchkeeper.core import Clock
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.security import record_change

CODE = re.compile(r"^[A-Z]{2}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
INSTRUMENT_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DATE_FIELDS = ("signed", "deposited", "denounced")
SEED_ACTOR = "seed"
# When the reference was written: the time shown for seeded states nobody has edited yet.
SEED_AT = datetime(2026, 5, 21, tzinfo=UTC)


@dataclass(frozen=True)
class Participation:
    """One state's standing under one instrument, with the dates parsed."""

    instrument: str
    signed: date | None = None
    deposited: date | None = None
    denounced: date | None = None
    ratified: bool = False
    reservations: tuple[str, ...] = ()
    verified: bool = False
    source: str = ""

    @property
    def is_party(self) -> bool:
        """Deposited (date known), or reported ratified with the date unknown."""
        return self.deposited is not None or self.ratified


def _iso(value: Any, *, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a date (YYYY-MM-DD)", field=field) from None


def _entry(raw: dict[str, Any] | None) -> dict[str, Any]:
    """An instrument entry in its stored shape (ISO dates, all keys present)."""
    raw = raw or {}
    return {
        "signed": _iso(raw.get("signed"), field="signed"),
        "deposited": _iso(raw.get("deposited"), field="deposited"),
        "denounced": _iso(raw.get("denounced"), field="denounced"),
        "ratified": bool(raw.get("ratified", False)),
        "reservations": [str(item) for item in raw.get("reservations") or []],
        "verified": bool(raw.get("verified", False)),
        "source": str(raw.get("source") or ""),
    }


def participation(state: CoopState, instrument_id: str) -> Participation:
    """The state's standing under ``instrument_id`` (empty if the registry has none)."""
    entry = _entry((state.instruments or {}).get(instrument_id))

    def day(key: str) -> date | None:
        value = entry[key]
        return date.fromisoformat(value) if value else None

    return Participation(
        instrument=instrument_id,
        signed=day("signed"),
        deposited=day("deposited"),
        denounced=day("denounced"),
        ratified=entry["ratified"],
        reservations=tuple(entry["reservations"]),
        verified=entry["verified"],
        source=entry["source"],
    )


@functools.cache
def _seed_document() -> dict[str, Any]:
    """The shipped seed, parsed once per process (it is package data: it never changes
    while the process runs); callers build fresh rows from it."""
    text = (resources.files("watchkeeper") / "data" / "states.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text) or {}
    return document


def _seed_rows(at: datetime) -> dict[str, CoopState]:
    document = copy.deepcopy(_seed_document())
    rows: dict[str, CoopState] = {}
    for code, item in (document.get("states") or {}).items():
        rows[str(code)] = CoopState(
            code=str(code),
            name=str(item["name"]),
            central_authority=str(item.get("central_authority") or "").strip(),
            poc=str(item.get("poc") or "").strip(),
            languages=list(item.get("languages") or []),
            reio=bool(item.get("reio", False)),
            instruments={
                key: _entry(value) for key, value in (item.get("instruments") or {}).items()
            },
            notes=str(item.get("notes") or "").strip(),
            updated_at=at,
            updated_by=SEED_ACTOR,
        )
    return rows


def seed_states(session: Session, *, clock: Clock) -> int:
    """Insert the seeded states whose codes are missing; returns how many (idempotent)."""
    present = set(session.scalars(select(CoopState.code)))
    added = [row for code, row in _seed_rows(clock.now()).items() if code not in present]
    if not added:
        return 0
    session.add_all(added)
    record_change(
        session,
        clock=clock,
        actor=SEED_ACTOR,
        action="cooperation.state.seed",
        subject="states",
        detail={"codes": sorted(row.code for row in added)},
    )
    session.flush()
    return len(added)


def list_states(session: Session) -> list[CoopState]:
    """Every state in the registry, with seeded states never edited shown from the seed."""
    stored = {row.code: row for row in session.scalars(select(CoopState))}
    for code, row in _seed_rows(SEED_AT).items():
        stored.setdefault(code, row)
    return [stored[code] for code in sorted(stored)]


def _normal_code(code: str) -> str:
    wanted = (code or "").strip().upper()
    if not CODE.match(wanted):
        raise InvalidInput(
            f"invalid state code {code!r}: expected two letters (ISO 3166-1 alpha-2)",
            field="code",
        )
    return wanted


def get_state(session: Session, code: str) -> CoopState:
    """One state by code (``NotFound`` pointing at ``parties list``)."""
    wanted = _normal_code(code)
    found = session.get(CoopState, wanted) or _seed_rows(SEED_AT).get(wanted)
    if found is None:
        raise NotFound(
            f"state {wanted} is not in the registry: see `watchkeeper parties list`, or add it"
            f" with `watchkeeper parties set {wanted} --name NAME`",
            field="code",
            state=wanted,
        )
    return found


def state_document(state: CoopState) -> dict[str, Any]:
    """The state as plain JSON-able data."""
    return {
        "code": state.code,
        "name": state.name,
        "central_authority": state.central_authority,
        "poc": state.poc,
        "languages": list(state.languages or []),
        "reio": bool(state.reio),
        "instruments": {key: _entry(value) for key, value in (state.instruments or {}).items()},
        "notes": state.notes,
        "updated_at": state.updated_at,
        "updated_by": state.updated_by,
    }


def _languages(values: Iterable[str]) -> list[str]:
    result: list[str] = []
    for value in values:
        code = value.strip().lower()
        if not LANGUAGE.match(code):
            raise InvalidInput(
                f"invalid language {value!r}: expected a two-letter ISO 639-1 code",
                field="languages",
            )
        if code not in result:
            result.append(code)
    return result


def _check_order(entry: dict[str, Any], instrument: str) -> None:
    signed, deposited, denounced = (entry[key] for key in DATE_FIELDS)
    if signed and deposited and deposited < signed:
        raise InvalidInput(
            f"{instrument}: deposit ({deposited}) before signature ({signed})", field="deposited"
        )
    if denounced and not (deposited or entry["ratified"]):
        raise InvalidInput(
            f"{instrument}: a denunciation needs a deposit (or --ratified)", field="denounced"
        )
    if denounced and deposited and denounced < deposited:
        raise InvalidInput(
            f"{instrument}: denunciation ({denounced}) before deposit ({deposited})",
            field="denounced",
        )


def set_state(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    code: str,
    name: str | None = None,
    central_authority: str | None = None,
    poc: str | None = None,
    languages: Sequence[str] | None = None,
    reio: bool | None = None,
    notes: str | None = None,
    instrument: str | None = None,
    signed: date | None = None,
    deposited: date | None = None,
    denounced: date | None = None,
    ratified: bool | None = None,
    reservations: Sequence[str] | None = None,
    verified: bool | None = None,
    source: str | None = None,
    clear: Sequence[str] = (),
) -> CoopState:
    """Create or edit a state; ``None`` leaves a field as it is, ``clear`` names dates to
    empty (``signed``, ``deposited``, ``denounced``). Audited with old and new values."""
    wanted = _normal_code(code)
    for field in clear:
        if field not in DATE_FIELDS:
            raise InvalidInput(
                f"cannot clear {field!r}: only {', '.join(DATE_FIELDS)}", field="clear"
            )
    per_instrument = (signed, deposited, denounced, ratified, reservations, verified, source)
    if instrument is None and (any(v is not None for v in per_instrument) or clear):
        raise InvalidInput(
            "dates, reservations, verified and source belong to an instrument: name it",
            field="instrument",
        )
    if instrument is not None and not INSTRUMENT_ID.match(instrument):
        raise InvalidInput(f"invalid instrument id {instrument!r}", field="instrument")
    seed_states(session, clock=clock)
    state = session.get(CoopState, wanted)
    created = state is None
    if state is None:
        if not (name or "").strip():
            raise NotFound(
                f"state {wanted} is not in the registry: give --name to add it",
                field="code",
                state=wanted,
            )
        state = CoopState(
            code=wanted, name="", central_authority="", poc="", languages=[], reio=False,
            instruments={}, notes="", updated_at=clock.now(), updated_by=actor,
        )  # fmt: skip
        session.add(state)
    before = state_document(state)
    if name is not None:
        if not name.strip():
            raise InvalidInput("the name cannot be empty", field="name")
        state.name = name.strip()
    if central_authority is not None:
        state.central_authority = central_authority.strip()
    if poc is not None:
        state.poc = poc.strip()
    if languages is not None:
        state.languages = _languages(languages)
    if reio is not None:
        state.reio = reio
    if notes is not None:
        state.notes = notes.strip()
    if instrument is not None:
        entry = _entry((state.instruments or {}).get(instrument))
        for key, value in (("signed", signed), ("deposited", deposited), ("denounced", denounced)):
            if value is not None:
                entry[key] = value.isoformat()
        for key in clear:
            entry[key] = None
        if ratified is not None:
            entry["ratified"] = ratified
        if reservations is not None:
            entry["reservations"] = [item.strip() for item in reservations if item.strip()]
        if verified is not None:
            entry["verified"] = verified
        if source is not None:
            entry["source"] = source.strip()
        _check_order(entry, instrument)
        state.instruments = {**(state.instruments or {}), instrument: entry}
    after = state_document(state)
    changes = {
        key: {"before": before[key], "after": after[key]}
        for key in after
        if key not in ("updated_at", "updated_by") and before[key] != after[key]
    }
    if not changes and not created:
        return state
    state.updated_at = clock.now()
    state.updated_by = actor
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="cooperation.state.set",
        subject=f"state:{wanted}",
        detail={"code": wanted, "created": created, "changes": changes},
    )
    session.flush()
    return state
