"""Relay of the event log to NATS JetStream, for nodes that scale out beyond one process.

The relay reads the log after its own durable cursor (subscriber ``nats-relay``) and publishes
each event to ``<prefix>.<type>`` with the event's UUID as ``Nats-Msg-Id``. JetStream drops a
message whose id it has seen within its duplicate window, so a relay that dies after publishing
but before saving its cursor republishes without creating duplicates.
"""

from __future__ import annotations

from typing import Any

import orjson

from watchkeeper.bus.models import SubscriberCursor
from watchkeeper.bus.outbox import event_document, read_events
from watchkeeper.store import Database

RELAY_CURSOR = "nats-relay"
SUBJECT_PREFIX = "watchkeeper.events"


async def ensure_stream(jetstream: Any, *, stream: str, prefix: str = SUBJECT_PREFIX) -> None:
    """Create the stream for the event subjects if it does not exist yet."""
    from nats.js.errors import NotFoundError

    try:
        await jetstream.stream_info(stream)
    except NotFoundError:
        await jetstream.add_stream(name=stream, subjects=[f"{prefix}.>"])


async def relay_once(
    database: Database, jetstream: Any, *, prefix: str = SUBJECT_PREFIX, batch: int = 500
) -> int:
    """Publish the events after the relay cursor; return how many were published."""
    with database.reader() as session:
        cursor = session.get(SubscriberCursor, RELAY_CURSOR)
        events = read_events(session, after=cursor.last_seq if cursor else 0, limit=batch)
        documents = [event_document(event) for event in events]
    for document in documents:
        await jetstream.publish(
            f"{prefix}.{document['type']}",
            orjson.dumps(document),
            headers={"Nats-Msg-Id": document["id"]},
        )
    if documents:
        with database.transaction() as session:
            cursor = session.get(SubscriberCursor, RELAY_CURSOR)
            if cursor is None:
                cursor = SubscriberCursor(subscriber=RELAY_CURSOR, last_seq=0, attempts=0)
                session.add(cursor)
            cursor.last_seq = max(cursor.last_seq, documents[-1]["seq"])
    return len(documents)
