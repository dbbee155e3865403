"""The ``event-stats`` subscriber: counts of events per type, shown on the dashboard."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.bus.models import Event, EventCount

STATS_SUBSCRIBER = "event-stats"


def count_event(session: Session, event: Event) -> None:
    """Add one to the counter of the event's type (runs inside the delivery transaction)."""
    row = session.get(EventCount, event.type)
    if row is None:
        session.add(EventCount(type=event.type, count=1, last_at=event.occurred_at))
    else:
        row.count += 1
        row.last_at = max(row.last_at, event.occurred_at)


def event_counts(session: Session) -> list[EventCount]:
    """Counters by type, most frequent first."""
    return list(session.scalars(select(EventCount).order_by(EventCount.count.desc())))
