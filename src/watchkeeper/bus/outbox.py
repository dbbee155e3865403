"""Writing and reading the event log (the transactional outbox).

``emit`` adds an event inside the caller's transaction: the event exists exactly when the
change it describes was committed. Writers that emit are serialised (``store.serialize``), so
sequence numbers follow commit order and a subscriber's cursor never skips an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from watchkeeper.bus.models import Event
from watchkeeper.core import Clock, SystemClock, new_id
from watchkeeper.store import serialize

EVENT_LOCK = "watchkeeper.events"


def emit(
    session: Session,
    *,
    type: str,
    actor: str,
    payload: dict[str, Any] | None = None,
    subject: str | None = None,
    clock: Clock | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Append an event in the session's transaction and return it (with its ``seq``)."""
    serialize(session, EVENT_LOCK)
    event = Event(
        id=new_id(),
        type=type,
        occurred_at=occurred_at or (clock or SystemClock()).now(),
        actor=actor,
        subject=subject,
        payload=payload or {},
    )
    session.add(event)
    session.flush()
    return event


def read_events(
    session: Session,
    *,
    after: int = 0,
    types: Sequence[str] | None = None,
    limit: int = 100,
) -> list[Event]:
    """Events with ``seq > after`` in order; ``types`` may end in ``*`` as a prefix match."""
    query = select(Event).where(Event.seq > after).order_by(Event.seq).limit(limit)
    if types:
        query = query.where(_type_filter(types))
    return list(session.scalars(query))


def _type_filter(types: Sequence[str]) -> ColumnElement[bool]:
    exact = [t for t in types if not t.endswith("*")]
    prefixes = [t[:-1] for t in types if t.endswith("*")]
    conditions: list[ColumnElement[bool]] = [Event.type.in_(exact)] if exact else []
    conditions += [Event.type.startswith(prefix) for prefix in prefixes]
    return or_(*conditions)


def newest_events(
    session: Session, *, types: Sequence[str] | None = None, limit: int = 50
) -> list[Event]:
    """The ``limit`` newest events, oldest first."""
    query = select(Event).order_by(Event.seq.desc()).limit(limit)
    if types:
        query = query.where(_type_filter(types))
    return list(reversed(list(session.scalars(query))))


def last_seq(session: Session) -> int:
    """The newest sequence number, 0 for an empty log."""
    return session.scalar(select(func.coalesce(func.max(Event.seq), 0))) or 0


def event_document(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict (API, CLI ``--json``, NATS relay)."""
    return {
        "seq": event.seq,
        "id": event.id,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "subject": event.subject,
        "payload": event.payload,
    }
