"""Recording a change: one audit entry and one event, in the transaction that made the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.bus import emit
from watchkeeper.core import Clock
from watchkeeper.security.audit import record


def record_change(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit ``action`` and emit it as an event of the same name; both commit with the change."""
    record(session, clock=clock, actor=actor, action=action, subject=subject, detail=detail)
    emit(session, type=action, actor=actor, subject=subject, payload=detail or {}, clock=clock)
