"""The table of signed messages between nodes: this node's outbox and inbox in one.

One row per message id and direction. An outbound row is the outbox: it stays ``pending``
(with its attempts, next attempt time and last error) until the receiver's signed receipt
comes back, or ``exported`` once it left on a file, and turns ``delivered`` with the receipt
kept. An inbound row is the record that refuses a second, different message under the same
id (a replay) and answers an identical one as a duplicate, with the receipt it was given.
The signed form is stored as it travelled, so either side can show what was said and verify
it again later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, JSONValue, SeqType, UTCDateTime

OUT = "out"
IN = "in"
DIRECTIONS = (OUT, IN)
PENDING = "pending"
EXPORTED = "exported"
DELIVERED = "delivered"
ACCEPTED = "accepted"
STATUSES = (PENDING, EXPORTED, DELIVERED, ACCEPTED)


class CoopMessage(Base):
    """A signed message sent to (``out``) or received from (``in``) a peer node."""

    __tablename__ = "coop_messages"
    __table_args__ = (
        Index("ix_coop_messages_due", "direction", "status", "next_attempt_at"),
        Index("ix_coop_messages_thread", "thread"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    seq: Mapped[int] = mapped_column(SeqType)
    """Order of creation on this node (the clock may not move between two messages)."""
    peer: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(80))
    thread: Mapped[str] = mapped_column(String(80))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    refused: Mapped[bool] = mapped_column(Boolean, default=False)
    """The last attempt was refused by the partner (not a failure to reach it): the later
    messages to that peer do not wait behind this one."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
