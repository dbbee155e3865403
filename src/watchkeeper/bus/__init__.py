"""The event log (transactional outbox) and its delivery: in-process dispatcher, NATS relay."""

from watchkeeper.bus.dispatcher import (
    DeliveryReport,
    Dispatcher,
    Handler,
    Subscriber,
    list_dead_letters,
    request_replay,
)
from watchkeeper.bus.models import DeadLetter, Event, EventCount, SubscriberCursor
from watchkeeper.bus.outbox import emit, event_document, last_seq, newest_events, read_events
from watchkeeper.bus.relay import ensure_stream, relay_once
from watchkeeper.bus.stats import STATS_SUBSCRIBER, count_event, event_counts

__all__ = [
    "STATS_SUBSCRIBER",
    "DeadLetter",
    "DeliveryReport",
    "Dispatcher",
    "Event",
    "EventCount",
    "Handler",
    "Subscriber",
    "SubscriberCursor",
    "count_event",
    "emit",
    "ensure_stream",
    "event_counts",
    "event_document",
    "last_seq",
    "list_dead_letters",
    "newest_events",
    "read_events",
    "relay_once",
    "request_replay",
]
