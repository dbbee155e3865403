"""The 24/7 duty roster: who answers an incoming request now, and who is called next.

Art 41 asks for a point of contact available 24 hours a day, 7 days a week; in practice that
is a rota of officers. A shift names a person for a period with a rank: at any moment the
people whose shift covers it, by rank, are the order of call. An incoming request goes to the
first; when nobody acknowledges it within the service level, the deadline scan
(``cooperation.deadlines``) hands it to the next (:func:`next_on_duty`).

Only people who can act on a request may be rostered (enabled users holding poc-officer,
central-authority or admin), so an escalation never lands on someone who cannot acknowledge.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.cooperation.models import RosterShift
from watchkeeper.core import Clock, utc
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.security import get_user, record_change

DUTY_ROLES = ("poc-officer", "central-authority", "admin")
MAX_CONTACT = 500


def _check_person(session: Session, person: str) -> None:
    try:
        user = get_user(session, person)
    except NotFound:
        raise InvalidInput(
            f"person: no user named {person!r}; add the user first (watchkeeper user add)",
            field="person",
            person=person,
        ) from None
    if user.disabled:
        raise InvalidInput(
            f"person: user {person!r} is disabled and cannot be on duty",
            field="person",
            person=person,
        )
    if not set(user.role_names).intersection(DUTY_ROLES):
        raise InvalidInput(
            f"person: user {person!r} holds none of the duty roles ({', '.join(DUTY_ROLES)}); "
            f"their roles: {', '.join(user.role_names) or 'none'}",
            field="person",
            person=person,
            needed=list(DUTY_ROLES),
        )


def add_shift(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    person: str,
    starts_at: datetime,
    ends_at: datetime,
    rank: int = 1,
    contact: str = "",
) -> RosterShift:
    """Put ``person`` on duty from ``starts_at`` until ``ends_at`` (exclusive) at ``rank``."""
    _check_person(session, person)
    start, end = utc(starts_at), utc(ends_at)
    if end <= start:
        raise InvalidInput(
            f"until: the shift must end after it starts ({start.isoformat()})",
            field="until",
            starts_at=start.isoformat(),
            ends_at=end.isoformat(),
        )
    if rank < 1:
        raise InvalidInput(f"rank: must be 1 or more, not {rank}", field="rank", rank=rank)
    if len(contact) > MAX_CONTACT:
        raise InvalidInput(
            f"contact: at most {MAX_CONTACT} characters ({len(contact)} given)", field="contact"
        )
    shift = RosterShift(
        person=person,
        contact=contact.strip(),
        rank=rank,
        starts_at=start,
        ends_at=end,
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(shift)
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="cooperation.roster.set",
        subject=f"roster-shift:{shift.id}",
        detail={
            "person": person,
            "rank": rank,
            "starts_at": start.isoformat(),
            "ends_at": end.isoformat(),
            "contact": shift.contact,
        },
    )
    return shift


def remove_shift(session: Session, *, clock: Clock, actor: str, shift_id: int) -> None:
    """Take a shift off the roster (``NotFound`` naming the id if there is none)."""
    shift = session.get(RosterShift, shift_id)
    if shift is None:
        raise NotFound(f"no roster shift {shift_id}", shift=shift_id)
    detail = {
        "person": shift.person,
        "rank": shift.rank,
        "starts_at": utc(shift.starts_at).isoformat(),
        "ends_at": utc(shift.ends_at).isoformat(),
    }
    session.delete(shift)
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action="cooperation.roster.remove",
        subject=f"roster-shift:{shift_id}",
        detail=detail,
    )


def on_duty(session: Session, *, at: datetime) -> list[RosterShift]:
    """The shifts covering ``at``, in order of call (rank, then the earliest start)."""
    moment = utc(at)
    query = (
        select(RosterShift)
        .where(RosterShift.starts_at <= moment, RosterShift.ends_at > moment)
        .order_by(RosterShift.rank, RosterShift.starts_at, RosterShift.id)
    )
    return list(session.scalars(query))


def duty_order(session: Session, *, at: datetime) -> list[str]:
    """The people on duty at ``at`` in order of call, each once (a person may hold two shifts)."""
    people: list[str] = []
    for shift in on_duty(session, at=at):
        if shift.person not in people:
            people.append(shift.person)
    return people


def next_on_duty(session: Session, *, at: datetime, after: str | None) -> str | None:
    """Who is called after ``after`` at ``at``: the first on duty when ``after`` is None or not
    on duty (any more); None once the order is exhausted or nobody is on duty."""
    people = duty_order(session, at=at)
    if after is None or after not in people:
        return people[0] if people else None
    position = people.index(after) + 1
    return people[position] if position < len(people) else None


def shift_document(shift: RosterShift) -> dict[str, Any]:
    """A shift as the API and ``roster show --json`` give it."""
    return {
        "id": shift.id,
        "person": shift.person,
        "contact": shift.contact,
        "rank": shift.rank,
        "starts_at": utc(shift.starts_at),
        "ends_at": utc(shift.ends_at),
        "created_by": shift.created_by,
        "created_at": utc(shift.created_at),
    }


def list_shifts(session: Session, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Shifts by start then rank; with ``since``, only those not ended by then."""
    query = select(RosterShift).order_by(RosterShift.starts_at, RosterShift.rank, RosterShift.id)
    if since is not None:
        query = query.where(RosterShift.ends_at > utc(since))
    return [shift_document(shift) for shift in session.scalars(query)]
