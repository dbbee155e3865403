"""Tables of the event log (transactional outbox) and of its delivery to subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, JSONValue, SeqType, UTCDateTime


class Event(Base):
    """One state change of the node, written in the same transaction as the change."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONValue)


class EventCount(Base):
    """How many events of one type the log holds (kept by the ``event-stats`` subscriber)."""

    __tablename__ = "event_counts"

    type: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SubscriberCursor(Base):
    """How far one named subscriber has got in the log, and its current failure streak."""

    __tablename__ = "event_cursors"

    subscriber: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class DeadLetter(Base):
    """An event a subscriber kept failing on; kept until replayed."""

    __tablename__ = "event_dead_letters"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    subscriber: Mapped[str] = mapped_column(String(100), index=True)
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq"))
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    replay_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
