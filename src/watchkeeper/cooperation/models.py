"""Tables of cooperation requests: the request, its timeline, and the duty roster.

A request is one row per node and direction: the requesting node holds the outgoing row, the
requested node the incoming one, and both carry the same ``thread`` (the id the requesting
node gave it), which every message between them names. The timeline keeps each transition
with who made it and why, so a request's history can be shown (and defended) without
reading the audit ledger; the ledger still gets every change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, JSONValue, SeqType, UTCDateTime

DIRECTIONS = ("out", "in")


class CoopRequest(Base):
    """One cooperation request as this node sees it (outgoing or incoming)."""

    __tablename__ = "coop_requests"
    __table_args__ = (
        Index("ix_coop_requests_thread", "thread"),
        Index("ix_coop_requests_inbox", "direction", "acked_at", "ack_due_at", "status"),
        Index("ix_coop_requests_direction_created", "direction", "created_at"),
        # Deadlines are read soonest first, a page at a time (deadlines.deadline_rows).
        Index("ix_coop_requests_preserved_until", "direction", "preserved_until"),
        Index("ix_coop_requests_order_expires_at", "direction", "order_expires_at"),
        Index("ix_coop_requests_follow_up_due_at", "direction", "follow_up_due_at"),
        Index("ix_coop_requests_sent_at", "direction", "sent_at"),
        Index("ix_coop_requests_confirm_due_at", "direction", "confirm_due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    thread: Mapped[str] = mapped_column(String(36))
    direction: Mapped[str] = mapped_column(String(3))
    type: Mapped[str] = mapped_column(String(40))
    instrument: Mapped[str] = mapped_column(String(40))
    requesting_state: Mapped[str] = mapped_column(String(2))
    requested_state: Mapped[str] = mapped_column(String(2))
    peer: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(30))
    language: Mapped[str] = mapped_column(String(8))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(40))
    contents: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    offence: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    data: Mapped[list[Any]] = mapped_column(JSONValue)
    period: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    confidential: Mapped[bool] = mapped_column(Boolean, default=True)
    no_user_notice: Mapped[bool] = mapped_column(Boolean, default=False)
    use_limits: Mapped[list[Any]] = mapped_column(JSONValue)
    conditions: Mapped[list[Any]] = mapped_column(JSONValue)
    case_id: Mapped[str | None] = mapped_column(String(36))
    evidence_ids: Mapped[list[Any]] = mapped_column(JSONValue)
    indicator_ids: Mapped[list[Any]] = mapped_column(JSONValue)
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    author: Mapped[str] = mapped_column(String(200))
    approver: Mapped[str | None] = mapped_column(String(200))
    screen: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    consultations: Mapped[list[Any]] = mapped_column(JSONValue)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acked_by: Mapped[str | None] = mapped_column(String(200))
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    preserved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    preserved_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    order_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    follow_up_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirm_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assignee: Mapped[str | None] = mapped_column(String(200))
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    alarms: Mapped[list[Any]] = mapped_column(JSONValue)


class CoopRequestEvent(Base):
    """One step of a request's timeline: a transition, a message, a decision."""

    __tablename__ = "coop_request_events"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("coop_requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    from_status: Mapped[str | None] = mapped_column(String(40))
    to_status: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONValue)


class RosterShift(Base):
    """A person on 24/7 duty for a period; ``rank`` orders who is called first, then next."""

    __tablename__ = "coop_roster"
    __table_args__ = (Index("ix_coop_roster_period", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(Text, default="")
    rank: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
