"""In-process delivery of the event log to named subscribers, at least once.

Each subscriber has a durable cursor (``event_cursors``). An event is handed to the handler
inside a transaction that also advances the cursor, so a handler's own database writes and
the cursor commit together: a crash redelivers, never skips. A handler that raises is retried
with exponential backoff; after ``max_attempts`` the event goes to the dead-letter list and the
subscriber moves on. Dead letters can be replayed (``watchkeeper events dlq replay``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.bus.models import DeadLetter, Event, SubscriberCursor
from watchkeeper.bus.outbox import read_events
from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput
from watchkeeper.store import Database

log = logging.getLogger(__name__)

Handler = Callable[[Session, Event], None]


@dataclass(frozen=True)
class Subscriber:
    """A named handler and the event types it wants (empty: all; ``x.*``: prefix)."""

    name: str
    handler: Handler
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliveryReport:
    """What one dispatcher pass did."""

    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    replayed: int = 0


class Dispatcher:
    """Delivers new events to every registered subscriber; call :meth:`run_once` in a loop."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        batch: int = 200,
    ) -> None:
        self._database = database
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._batch = batch
        self._subscribers: dict[str, Subscriber] = {}

    @property
    def subscribers(self) -> Sequence[Subscriber]:
        """Registered subscribers, in registration order."""
        return list(self._subscribers.values())

    def subscribe(self, name: str, handler: Handler, *, types: Sequence[str] = ()) -> None:
        """Register ``handler`` under a unique, stable ``name`` (its cursor's key)."""
        if name in self._subscribers:
            raise Conflict(f"subscriber {name!r} is already registered", subscriber=name)
        self._subscribers[name] = Subscriber(name, handler, tuple(types))

    def unsubscribe(self, name: str) -> None:
        """Stop delivering to ``name`` in this process (its cursor stays where it is)."""
        self._subscribers.pop(name, None)

    def run_once(self) -> DeliveryReport:
        """Deliver pending events and requested replays to every subscriber once."""
        totals = DeliveryReport()
        for subscriber in self.subscribers:
            report = self._deliver(subscriber)
            replayed = self._replay(subscriber)
            totals = DeliveryReport(
                delivered=totals.delivered + report.delivered,
                failed=totals.failed + report.failed + replayed.failed,
                dead_lettered=totals.dead_lettered + report.dead_lettered,
                replayed=totals.replayed + replayed.replayed,
            )
        return totals

    def _cursor(self, session: Session, name: str) -> SubscriberCursor:
        cursor = session.scalars(
            select(SubscriberCursor).where(SubscriberCursor.subscriber == name).with_for_update()
        ).first()
        if cursor is None:
            cursor = SubscriberCursor(subscriber=name, last_seq=0, attempts=0)
            session.add(cursor)
            session.flush()
        return cursor

    def _deliver(self, subscriber: Subscriber) -> DeliveryReport:
        with self._database.reader() as session:
            state = session.get(SubscriberCursor, subscriber.name)
            after = state.last_seq if state else 0
            if state and state.next_attempt_at and state.next_attempt_at > self._clock.now():
                return DeliveryReport()
            events = read_events(
                session, after=after, types=subscriber.types or None, limit=self._batch
            )
        delivered = failed = dead_lettered = 0
        for event in events:
            try:
                with self._database.transaction() as session:
                    cursor = self._cursor(session, subscriber.name)
                    if cursor.last_seq >= event.seq:
                        continue  # another process delivered it meanwhile
                    subscriber.handler(session, event)
                    cursor.last_seq = event.seq
                    cursor.attempts = 0
                    cursor.next_attempt_at = None
                    cursor.last_error = None
                delivered += 1
            except Exception as exc:
                failed += 1
                if not self._record_failure(subscriber.name, event, exc):
                    break  # backing off: the rest waits, to keep the subscriber's order
                dead_lettered += 1
        return DeliveryReport(delivered=delivered, failed=failed, dead_lettered=dead_lettered)

    def _record_failure(self, name: str, event: Event, exc: Exception) -> bool:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        with self._database.transaction() as session:
            cursor = self._cursor(session, name)
            cursor.attempts += 1
            cursor.last_error = error
            if cursor.attempts < self._max_attempts:
                delay = self._backoff * 2 ** (cursor.attempts - 1)
                cursor.next_attempt_at = self._clock.now() + timedelta(seconds=delay)
                log.warning(
                    "subscriber %s failed on event %s (attempt %s): %s",
                    name,
                    event.seq,
                    cursor.attempts,
                    error,
                )
                return False
            session.add(
                DeadLetter(
                    subscriber=name,
                    event_seq=event.seq,
                    attempts=cursor.attempts,
                    error=error,
                    failed_at=self._clock.now(),
                )
            )
            cursor.last_seq = event.seq
            cursor.attempts = 0
            cursor.next_attempt_at = None
            log.error("subscriber %s dead-lettered event %s: %s", name, event.seq, error)
            return True

    def _replay(self, subscriber: Subscriber) -> DeliveryReport:
        with self._database.reader() as session:
            ids = list(
                session.scalars(
                    select(DeadLetter.id)
                    .where(
                        DeadLetter.subscriber == subscriber.name,
                        DeadLetter.replay_requested_at.is_not(None),
                        DeadLetter.replayed_at.is_(None),
                    )
                    .order_by(DeadLetter.id)
                )
            )
        replayed = failed = 0
        for letter_id in ids:
            try:
                with self._database.transaction() as session:
                    letter = session.get_one(DeadLetter, letter_id)
                    if letter.replayed_at is not None:
                        continue
                    subscriber.handler(session, session.get_one(Event, letter.event_seq))
                    letter.replayed_at = self._clock.now()
                replayed += 1
            except Exception as exc:
                failed += 1
                with self._database.transaction() as session:
                    letter = session.get_one(DeadLetter, letter_id)
                    letter.attempts += 1
                    letter.error = f"{type(exc).__name__}: {exc}"[:2000]
                    letter.replay_requested_at = None
        return DeliveryReport(replayed=replayed, failed=failed)


def request_replay(
    session: Session, *, clock: Clock, ids: Sequence[int] = (), subscriber: str | None = None
) -> list[DeadLetter]:
    """Mark dead letters for redelivery (by id, by subscriber, or all when neither is given)."""
    query = select(DeadLetter).where(DeadLetter.replayed_at.is_(None)).order_by(DeadLetter.id)
    if ids:
        query = query.where(DeadLetter.id.in_(ids))
    if subscriber:
        query = query.where(DeadLetter.subscriber == subscriber)
    letters = list(session.scalars(query))
    missing = sorted(set(ids) - {letter.id for letter in letters})
    if missing:
        raise InvalidInput(
            f"no pending dead letter with id {', '.join(map(str, missing))}", ids=missing
        )
    for letter in letters:
        letter.replay_requested_at = clock.now()
    return letters


def list_dead_letters(session: Session, *, include_replayed: bool = False) -> list[DeadLetter]:
    """Dead letters, oldest first."""
    query = select(DeadLetter).order_by(DeadLetter.id)
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return list(session.scalars(query))
