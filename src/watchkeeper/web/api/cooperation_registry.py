"""The registry side of cooperation over the API: the duty roster, the states registry and
whether an instrument applies between two states, the instrument packs, and the outbox of
signed messages. Read by every cooperation role and auditors; the roster is kept by the
points of contact and the central authority, the states registry by the central authority.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from watchkeeper.cooperation import (
    SCREEN_CHECKS,
    add_shift,
    applicability,
    get_instrument,
    get_state,
    list_shifts,
    list_states,
    load_instruments,
    on_duty,
    outbox_status,
    remove_shift,
    set_state,
    shift_document,
    state_document,
)
from watchkeeper.security import Principal
from watchkeeper.web.api.cooperation import Reader
from watchkeeper.web.deps import NodeDep, require

router = APIRouter(prefix="/cooperation", tags=["cooperation"])
ROSTER_EDITORS = ("admin", "central-authority", "poc-officer")
STATE_EDITORS = ("admin", "central-authority")
RosterEditor = Annotated[Principal, Depends(require(*ROSTER_EDITORS))]
StateEditor = Annotated[Principal, Depends(require(*STATE_EDITORS))]


class ShiftIn(BaseModel):
    """A person on duty from ``starts_at`` until ``ends_at`` at ``rank``."""

    person: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    ends_at: datetime
    rank: int = Field(1, ge=1, le=100)
    contact: str = Field("", max_length=500)


class StateIn(BaseModel):
    """Changes to a state of the registry (left out: unchanged); dates belong to
    ``instrument``."""

    name: str | None = Field(None, max_length=300)
    central_authority: str | None = Field(None, max_length=2000)
    poc: str | None = Field(None, max_length=2000)
    languages: list[Annotated[str, Field(max_length=10)]] | None = Field(None, max_length=50)
    reio: bool | None = None
    notes: str | None = Field(None, max_length=20_000)
    instrument: str | None = Field(None, max_length=60)
    signed: date | None = None
    deposited: date | None = None
    denounced: date | None = None
    ratified: bool | None = None
    reservations: list[Annotated[str, Field(max_length=2000)]] | None = Field(None, max_length=50)
    verified: bool | None = None
    source: str | None = Field(None, max_length=2000)
    clear: list[Annotated[str, Field(max_length=20)]] = Field(default_factory=list, max_length=3)


@router.get("/roster")
def roster(node: NodeDep, principal: Reader) -> dict[str, Any]:
    """Who is on duty now (in order of call) and the shifts not ended yet."""
    now = node.clock.now()
    with node.database.reader() as session:
        return {
            "now": now,
            "on_duty": [shift_document(shift) for shift in on_duty(session, at=now)],
            "shifts": list_shifts(session, since=now),
        }


@router.post("/roster", status_code=201)
def roster_add(node: NodeDep, principal: RosterEditor, body: ShiftIn) -> dict[str, Any]:
    """Put a person on duty for a period."""
    with node.database.transaction() as session:
        shift = add_shift(session, clock=node.clock, actor=principal.actor, **body.model_dump())
        return shift_document(shift)


@router.delete("/roster/{shift_id}", status_code=204)
def roster_remove(node: NodeDep, principal: RosterEditor, shift_id: int) -> Response:
    """Take a shift off the roster."""
    with node.database.transaction() as session:
        remove_shift(session, clock=node.clock, actor=principal.actor, shift_id=shift_id)
    return Response(status_code=204)


@router.get("/states")
def states(node: NodeDep, principal: Reader) -> list[dict[str, Any]]:
    """Every state of the registry."""
    with node.database.reader() as session:
        return [state_document(state) for state in list_states(session)]


@router.get("/states/{code}")
def state_get(node: NodeDep, principal: Reader, code: str) -> dict[str, Any]:
    """One state: authorities, languages, and per instrument its dates and reservations."""
    with node.database.reader() as session:
        return state_document(get_state(session, code))


@router.put("/states/{code}")
def state_put(node: NodeDep, principal: StateEditor, code: str, body: StateIn) -> dict[str, Any]:
    """Create or edit a state (audited with old and new values)."""
    with node.database.transaction() as session:
        state = set_state(
            session, clock=node.clock, actor=principal.actor, code=code, **body.model_dump()
        )
        return state_document(state)


@router.get("/parties")
def parties(
    node: NodeDep,
    principal: Reader,
    b: str = Query(min_length=2, max_length=2, description="The other state."),
    a: str | None = Query(None, min_length=2, max_length=2, description="Default: ours."),
    on: date | None = Query(None, description="Default: today."),
    instrument: str | None = Query(None, max_length=60),
) -> dict[str, Any]:
    """Whether the instrument binds both states on the date, and why."""
    pack = get_instrument(node.data_dir, instrument)
    first = a or node.identity().country
    with node.database.reader() as session:
        found = applicability(
            session, instrument=pack, a=first, b=b, on=on or node.clock.now().date()
        )
    return {
        "applies": found.applies,
        "instrument": found.instrument,
        "on": found.on,
        "states": list(found.states),
        "in_force": found.in_force,
        "reasons": found.reasons,
    }


@router.get("/instruments")
def instruments(node: NodeDep, principal: Reader) -> dict[str, Any]:
    """The instrument packs of this node (shipped, corrected by the data dir), and the
    screen checks a legal reviewer answers."""
    packs = load_instruments(node.data_dir)
    return {
        "instruments": {key: pack.model_dump(mode="json") for key, pack in packs.items()},
        "screen_checks": list(SCREEN_CHECKS),
    }


@router.get("/outbox")
def outbox(node: NodeDep, principal: Reader) -> dict[str, Any]:
    """Messages to partners not delivered yet, per peer."""
    with node.database.reader() as session:
        return outbox_status(session, now=node.clock.now())
