"""The timeline of a case, built from the event log rather than typed by hand.

Every change to a case is an event whose subject is the case id; other areas' events that
name the case in their payload (an alert closed with its case id, a playbook step) belong
too, and so do the events of the merged alerts and of the escalation that asked for the
case. The alerts' first and last hits are added as entries of their own: when the activity
began is usually the first question of an incident report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session

from watchkeeper.bus.models import Event
from watchkeeper.detect.models import Alert
from watchkeeper.respond.models import Case

MAX_ENTRIES = 1000
# Events that may precede the case and still belong to it (the alerts', the request's).
EARLY_TYPES = ("detect.alert", "detect.alert.escalate", "detect.alert.status")


def _summary(event: Event) -> str:
    p = event.payload or {}
    kind = event.type
    if kind == "case.open":
        return f"case opened: {p.get('title', '')}"
    if kind == "case.status":
        return f"status {p.get('from')} -> {p.get('to')}" + (
            " (reopened)" if p.get("reopened") else ""
        )
    if kind == "case.close":
        return f"closed as {p.get('disposition')}: {p.get('reason', '')}"
    if kind == "case.assign":
        return f"assigned to {p.get('to') or 'nobody'}"
    if kind == "case.update":
        return "changed " + ", ".join(sorted(p.get("changes") or {}))
    if kind == "case.note":
        return "note added"
    if kind == "case.task":
        return f"task {p.get('change')}: {p.get('title') or p.get('changes') or ''}"
    if kind == "case.observable":
        return f"observable {p.get('kind')} {p.get('value')}"
    if kind == "case.merge":
        return f"{len(p.get('alerts') or [])} alert(s) merged"
    if kind == "case.link":
        parts = []
        if p.get("parent_number"):
            parts.append(f"child of {p['parent_number']}")
        if p.get("campaign_name"):
            parts.append(f"campaign {p['campaign_name']}")
        return "linked: " + (", ".join(parts) or "links removed")
    if kind == "detect.alert":
        return f"alert raised: {p.get('title', '')} on {p.get('host', '')}"
    if kind == "detect.alert.escalate":
        return f"case requested by {p.get('requested_by')}: {p.get('title', '')}"
    if kind == "detect.alert.status":
        return f"alert status {p.get('from')} -> {p.get('to')}"
    return kind


def case_timeline(
    session: Session, *, case: Case, alerts: Sequence[Alert], limit: int = MAX_ENTRIES
) -> list[dict[str, Any]]:
    """Entries ``{at, kind, actor, summary, seq, subject}`` oldest first."""
    related = [alert.id for alert in alerts]
    if case.escalation_id:
        related.append(case.escalation_id)
    # Everything naming the case follows its first event: bounding by that seq keeps the text
    # search on the recent part of the log (a primary-key range). Earlier events can only be
    # the alerts' and the escalation's own, found through the type index.
    start = session.scalar(select(func.min(Event.seq)).where(Event.subject == case.id))
    if start is None:
        start = session.scalar(select(func.max(Event.seq))) or 0
    after = select(Event).where(
        Event.seq >= start,
        or_(
            Event.subject.in_([case.id, *related]),
            cast(Event.payload, String).contains(case.id),
        ),
    )
    found = list(session.scalars(after.order_by(Event.seq).limit(limit)))
    if related:
        before = select(Event).where(
            Event.seq < start, Event.type.in_(EARLY_TYPES), Event.subject.in_(related)
        )
        found = [*session.scalars(before.order_by(Event.seq).limit(limit)), *found]
    events = found[:limit]
    entries: list[dict[str, Any]] = [
        {
            "at": event.occurred_at.isoformat(),
            "kind": event.type,
            "actor": event.actor,
            "summary": _summary(event),
            "seq": event.seq,
            "subject": event.subject,
        }
        for event in events
    ]
    for alert in alerts:
        where = f"{alert.title} on {alert.host}"
        entries.append(
            {
                "at": alert.first_seen.isoformat(),
                "kind": "alert.first_seen",
                "actor": "detect",
                "summary": f"first hit: {where}",
                "seq": None,
                "subject": alert.id,
            }
        )
        if alert.last_seen != alert.first_seen:
            entries.append(
                {
                    "at": alert.last_seen.isoformat(),
                    "kind": "alert.last_seen",
                    "actor": "detect",
                    "summary": f"last hit ({alert.count} in all): {where}",
                    "seq": None,
                    "subject": alert.id,
                }
            )
    entries.sort(key=lambda e: (e["at"], e["seq"] if e["seq"] is not None else -1))
    return entries
