"""The 24/7 inbox: incoming requests, those still waiting for acknowledgement first.

A point of contact on duty needs two things at a glance: what nobody has acknowledged yet
(most urgent clock first), then what is in hand. Each is one indexed query that stops at the
page size, so the first page costs the same with a hundred requests or a hundred thousand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.cooperation.machines import FINAL
from watchkeeper.cooperation.models import CoopRequest
from watchkeeper.core import utc


def _clock(request: CoopRequest, now: datetime) -> dict[str, Any]:
    """The acknowledgement clock: seconds left (negative when overdue)."""
    if request.acked_at is not None or request.ack_due_at is None:
        return {"state": "acknowledged" if request.acked_at else "none", "seconds_left": None}
    left = int((utc(request.ack_due_at) - now).total_seconds())
    return {"state": "overdue" if left < 0 else "running", "seconds_left": left}


def inbox_row(request: CoopRequest, *, now: datetime) -> dict[str, Any]:
    """One inbox line: who asks what, its status and its clock."""
    return {
        "id": request.id,
        "reference": request.reference,
        "type": request.type,
        "from_state": request.requesting_state,
        "peer": request.peer,
        "urgent": request.urgent,
        "status": request.status,
        "received_at": utc(request.created_at).isoformat(),
        "ack_due_at": utc(request.ack_due_at).isoformat() if request.ack_due_at else None,
        "acked_at": utc(request.acked_at).isoformat() if request.acked_at else None,
        "assignee": request.assignee,
        "escalations": request.escalations,
        "clock": _clock(request, now),
    }


def inbox_page(
    session: Session,
    *,
    now: datetime,
    limit: int = 50,
    offset: int = 0,
    include_closed: bool = False,
) -> dict[str, Any]:
    """A page of the inbox: unacknowledged requests by due time, then the others, newest
    first; with the counts of both."""
    limit = max(1, min(limit, 500))
    waiting = (CoopRequest.direction == "in") & CoopRequest.acked_at.is_(None)
    in_hand = (CoopRequest.direction == "in") & CoopRequest.acked_at.is_not(None)
    if not include_closed:
        in_hand = in_hand & CoopRequest.status.not_in(FINAL)
    waiting_count = session.scalar(select(func.count()).select_from(CoopRequest).where(waiting))
    rows: list[CoopRequest] = []
    if offset < (waiting_count or 0):
        rows = list(
            session.scalars(
                select(CoopRequest)
                .where(waiting)
                .order_by(CoopRequest.ack_due_at, CoopRequest.id)
                .offset(offset)
                .limit(limit)
            )
        )
    if len(rows) < limit:
        rest = max(0, offset - (waiting_count or 0))
        rows += list(
            session.scalars(
                select(CoopRequest)
                .where(in_hand)
                .order_by(CoopRequest.created_at.desc(), CoopRequest.id)
                .offset(rest)
                .limit(limit - len(rows))
            )
        )
    in_hand_count = session.scalar(select(func.count()).select_from(CoopRequest).where(in_hand))
    return {
        "now": now.isoformat(),
        "waiting": waiting_count or 0,
        "in_hand": in_hand_count or 0,
        "offset": offset,
        "limit": limit,
        "requests": [inbox_row(request, now=now) for request in rows],
    }
