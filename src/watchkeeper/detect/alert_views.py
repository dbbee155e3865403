"""What people do with alerts: list and filter them, open one, acknowledge, close, escalate.

Called alike by the API, the UI and (later) the CLI, each over a session the caller commits.
Every change is audited and emitted through ``record_change`` in that transaction.

Escalation ("open a case") does not open the case here: it marks the alerts ``escalated`` and
emits one ``detect.alert.escalate`` event carrying their summaries; the response area
subscribes to it, opens the case and writes ``case_id`` back. An alert already linked to a
case (``case_id`` set) cannot be escalated again (``Conflict`` naming the case). An alert
escalated but still unlinked may be escalated again: that is how a user retries when the case
was never opened (the subscriber failed or is late); the event lists such alerts under
``again`` so that the subscriber can tell a retry from a first request.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from watchkeeper.bus.models import Event
from watchkeeper.core import Clock, new_id
from watchkeeper.core.tlp import Tlp, parse_tlp
from watchkeeper.detect.alerts import SEVERITIES, alert_summary
from watchkeeper.detect.models import ALERT_KINDS, ALERT_STATUSES, Alert, AlertLine, DetectionRun
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.intel import ScoringPolicy, object_view
from watchkeeper.security import STAFF_ROLES, Principal, record_change

MAX_LIMIT = 1000
MAX_ESCALATED = 200  # alerts per escalation: a case of more is a hunt, not an incident
MAX_REASON = 2000
MAX_TITLE = 300
MAX_RUNS = 500
# Statuses a user sets directly; "escalated" is only reached through ``escalate_alert``.
SETTABLE = ("new", "acknowledged", "closed")
ESCALATE_EVENT = "detect.alert.escalate"
STATUS_ACTION = "detect.alert.status"


def alert_document(alert: Alert) -> dict[str, Any]:
    """An alert as the API and the UI show it (the event summary plus its state)."""
    return {
        **alert_summary(alert),
        "explanation": alert.explanation,
        "status": alert.status,
        "case_id": alert.case_id,
        "window_start": alert.window_start.isoformat(),
        "last_seen": alert.last_seen.isoformat(),
        "created_at": alert.created_at.isoformat(),
        "updated_at": alert.updated_at.isoformat(),
    }


def _choices(values: Sequence[str] | None, *, allowed: Sequence[str], field: str) -> list[str]:
    """The filter values, refused (naming the field and the valid ones) if any is unknown."""
    chosen = [value.strip().lower() for value in values or () if value.strip()]
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"unknown {field} {', '.join(unknown)}; valid: {', '.join(allowed)}",
            field=field,
            unknown=unknown,
            valid=list(allowed),
        )
    return chosen


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _encode_cursor(alert: Alert) -> str:
    raw = f"{alert.last_seen.isoformat()}|{alert.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, alert_id = raw.partition("|")
        if not alert_id:
            raise ValueError(cursor)
        return _utc(datetime.fromisoformat(stamp)), alert_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "the cursor is not one this node handed out; use the `next` of the previous page",
            field="cursor",
        ) from None


def _stricter_than(level: Tlp) -> list[str]:
    """Stored spellings of every TLP level more restrictive than ``level``."""
    return [
        spelling
        for member in Tlp
        if member > level
        for spelling in (member.value, f"tlp:{member.value}")
    ]


def max_tlp_for(principal: Principal) -> Tlp | None:
    """The most restrictive marking ``principal`` may see: any for staff, below RED for anyone
    else (the alert routes admit staff only; this keeps RED safe if that ever changes)."""
    return None if principal.has(*STAFF_ROLES) else Tlp.AMBER_STRICT


def _tlp_condition(max_tlp: Tlp | None) -> list[ColumnElement[bool]]:
    """The SQL form of :func:`_visible` (unmarked alerts stay visible)."""
    hidden = _stricter_than(max_tlp) if max_tlp is not None else []
    if not hidden:
        return []
    return [or_(Alert.tlp.is_(None), func.lower(Alert.tlp).not_in(hidden))]


def _visible(alert: Alert, max_tlp: Tlp | None) -> bool:
    """Whether an alert's TLP allows showing it; an unreadable marking counts as RED."""
    if max_tlp is None or alert.tlp is None:
        return True
    try:
        return parse_tlp(alert.tlp) <= max_tlp
    except InvalidInput:
        return False


def list_alerts(
    session: Session,
    *,
    status: Sequence[str] | None = None,
    kind: Sequence[str] | None = None,
    severity: Sequence[str] | None = None,
    host: str | None = None,
    organization: str | None = None,
    indicator_id: str | None = None,
    rule_id: str | None = None,
    retro: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
    max_tlp: Tlp | None = None,
) -> dict[str, Any]:
    """A page of alerts, most recently seen first: ``{"alerts": [...], "next": cursor}``.

    ``since``/``until`` bound the last-seen time (``until`` exclusive); ``q`` is a
    case-insensitive text searched in the title, value and host; ``max_tlp`` hides alerts
    marked more restrictively (None shows all). ``next`` is None on the last page; the cursor
    is a position (last-seen time and id), so alerts arriving meanwhile never shift a page.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    conditions: list[ColumnElement[bool]] = []
    for column, values, allowed, field in (
        (Alert.status, status, ALERT_STATUSES, "status"),
        (Alert.kind, kind, ALERT_KINDS, "kind"),
        (Alert.severity, severity, SEVERITIES, "severity"),
    ):
        chosen = _choices(values, allowed=allowed, field=field)
        if chosen:
            conditions.append(column.in_(chosen))
    exacts: tuple[tuple[Any, str | None], ...] = (
        (Alert.host, host),
        (Alert.organization, organization),
        (Alert.indicator_id, indicator_id),
        (Alert.rule_id, rule_id),
    )
    for attribute, exact in exacts:
        if exact:
            conditions.append(attribute == exact.strip())
    if retro is not None:
        conditions.append(Alert.retro.is_(retro))
    if since is not None:
        conditions.append(Alert.last_seen >= _utc(since))
    if until is not None:
        conditions.append(Alert.last_seen < _utc(until))
    if q and q.strip():
        text = q.strip().lower()[:500]
        conditions.append(
            or_(
                *(
                    func.lower(column).contains(text, autoescape=True)
                    for column in (Alert.title, Alert.value, Alert.host)
                )
            )
        )
    conditions.extend(_tlp_condition(max_tlp))
    if cursor:
        last_seen, last_id = _decode_cursor(cursor)
        conditions.append(
            or_(
                Alert.last_seen < last_seen,
                and_(Alert.last_seen == last_seen, Alert.id < last_id),
            )
        )
    query = (
        select(Alert)
        .where(*conditions)
        .order_by(Alert.last_seen.desc(), Alert.id.desc())
        .limit(limit + 1)
    )
    found = list(session.scalars(query))
    page = found[:limit]
    return {
        "alerts": [alert_document(alert) for alert in page],
        "next": _encode_cursor(page[-1]) if len(found) > limit else None,
    }


def alert_counts(session: Session, *, max_tlp: Tlp | None = None) -> dict[str, dict[str, int]]:
    """How many alerts there are by status and, among open ones (new, acknowledged), by
    severity: the figures a watch floor looks at first."""
    visible = _tlp_condition(max_tlp)
    by_status = dict.fromkeys(ALERT_STATUSES, 0)
    for status, count in session.execute(
        select(Alert.status, func.count()).where(*visible).group_by(Alert.status)
    ):
        by_status[status] = int(count)
    open_by_severity = dict.fromkeys(SEVERITIES, 0)
    for severity, count in session.execute(
        select(Alert.severity, func.count())
        .where(Alert.status.in_(("new", "acknowledged")), *visible)
        .group_by(Alert.severity)
    ):
        open_by_severity[severity] = int(count)
    return {"status": by_status, "open_severity": open_by_severity}


def _get(session: Session, alert_id: str, *, max_tlp: Tlp | None = None) -> Alert:
    alert = session.get(Alert, alert_id.strip()[:36])
    # An alert the caller may not see is answered like a missing one: its existence is news.
    if alert is None or not _visible(alert, max_tlp):
        raise NotFound(f"no alert {alert_id[:100]!r}", field="alert_id", alert_id=alert_id[:100])
    return alert


def _indicator(
    session: Session, *, indicator_id: str, policy: ScoringPolicy, now: datetime
) -> dict[str, Any] | None:
    """The indicator an alert matched: pattern, TLP, sources and the score explained."""
    try:
        view = object_view(session, stix_id=indicator_id, policy=policy, now=now)
    except NotFound:
        return None  # purged since the alert was raised; the alert keeps its id and value
    document = view["document"]
    newest = view["versions"][0]
    return {
        "id": view["id"],
        "name": document.get("name"),
        "pattern": document.get("pattern"),
        "pattern_type": document.get("pattern_type"),
        "valid_from": document.get("valid_from"),
        "valid_until": document.get("valid_until"),
        "labels": document.get("labels") or [],
        "tlp": newest.get("tlp"),
        "confidence": newest.get("confidence"),
        "modified": newest.get("modified"),
        "current": bool(newest.get("current")),
        "revoked": bool(newest.get("revoked")),
        "values": view["values"],
        "provenance": view["provenance"],
        "score": view["score"],
    }


def alert_view(
    session: Session,
    *,
    alert_id: str,
    policy: ScoringPolicy | None = None,
    now: datetime | None = None,
    max_tlp: Tlp | None = None,
) -> dict[str, Any]:
    """One alert with its matched lines (file, line, time, field, normalised event) and what
    fired: the indicator as the intelligence store knows it, or the rule id. ``NotFound`` for
    an unknown alert or one above ``max_tlp``."""
    alert = _get(session, alert_id, max_tlp=max_tlp)
    lines = session.scalars(
        select(AlertLine).where(AlertLine.alert_id == alert.id).order_by(AlertLine.id)
    )
    indicator = None
    if alert.indicator_id:
        indicator = _indicator(
            session,
            indicator_id=alert.indicator_id,
            policy=policy or ScoringPolicy(),
            now=now or datetime.now(UTC),
        )
    return {
        "alert": alert_document(alert),
        "lines": [
            {
                "source": line.source,
                "line": line.line,
                "seen_at": line.seen_at.isoformat() if line.seen_at else None,
                "field": line.field,
                "event": line.event,
            }
            for line in lines
        ],
        "indicator": indicator,
        "rule_id": alert.rule_id,
    }


def set_alert_status(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    alert_id: str,
    status: str,
    reason: str | None = None,
    max_tlp: Tlp | None = None,
) -> dict[str, Any]:
    """Acknowledge, close or reopen (``new``) an alert; audited as ``detect.alert.status``.

    Escalated alerts belong to the response side: they may only be closed here. Setting the
    status an alert already has changes nothing and records nothing.
    """
    wanted = status.strip().lower()
    if wanted not in SETTABLE:
        hint = "; use escalate to open a case" if wanted == "escalated" else ""
        raise InvalidInput(
            f"status must be one of {', '.join(SETTABLE)}{hint}",
            field="status",
            valid=list(SETTABLE),
        )
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInput(f"reason longer than {MAX_REASON} characters", field="reason")
    alert = _get(session, alert_id, max_tlp=max_tlp)
    if alert.status == wanted:
        return alert_document(alert)
    if alert.status == "escalated" and wanted != "closed":
        where = f"case {alert.case_id}" if alert.case_id else "a case being opened"
        raise Conflict(
            f"alert {alert.id} is escalated to {where}; it can only be closed",
            alert_id=alert.id,
            case_id=alert.case_id,
        )
    before = alert.status
    alert.status = wanted
    alert.updated_at = clock.now()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action=STATUS_ACTION,
        subject=alert.id,
        detail={"from": before, "to": wanted, "reason": reason or None, "case_id": alert.case_id},
    )
    return alert_document(alert)


def escalate_alert(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    alert_ids: Sequence[str],
    title: str | None = None,
    max_tlp: Tlp | None = None,
) -> dict[str, Any]:
    """Ask for a case over ``alert_ids``: mark them escalated and emit one
    ``detect.alert.escalate`` event (see the module docstring for re-escalation).

    Returns the escalation id (the event's subject), the event ``seq`` and the alerts.
    """
    wanted = list(dict.fromkeys(i.strip() for i in alert_ids if i and i.strip()))
    if not wanted:
        raise InvalidInput("give at least one alert id", field="alert_ids")
    if len(wanted) > MAX_ESCALATED:
        raise InvalidInput(f"at most {MAX_ESCALATED} alerts per case request", field="alert_ids")
    if title is not None and len(title.strip()) > MAX_TITLE:
        raise InvalidInput(f"title longer than {MAX_TITLE} characters", field="title")
    found = {
        alert.id: alert for alert in session.scalars(select(Alert).where(Alert.id.in_(wanted)))
    }
    missing = [i for i in wanted if i not in found or not _visible(found[i], max_tlp)]
    if missing:
        raise NotFound(
            f"no alert {', '.join(m[:40] for m in missing[:5])}",
            field="alert_ids",
            missing=missing[:50],
        )
    alerts = [found[i] for i in wanted]
    linked = [alert for alert in alerts if alert.case_id]
    if linked:
        raise Conflict(
            "already in a case: "
            + ", ".join(f"alert {a.id} (case {a.case_id})" for a in linked[:5]),
            field="alert_ids",
            linked={a.id: a.case_id for a in linked},
        )
    now = clock.now()
    again = [alert.id for alert in alerts if alert.status == "escalated"]
    for alert in alerts:
        alert.status = "escalated"
        alert.updated_at = now
    summaries = [alert_summary(alert) for alert in alerts]
    case_title = (title or "").strip() or _default_title(alerts)
    escalation = new_id()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action=ESCALATE_EVENT,
        subject=escalation,
        detail={
            "escalation": escalation,
            "title": case_title,
            "requested_by": actor,
            "alerts": summaries,
            "again": again,
        },
    )
    # The subject is new, so the one event carrying it is the one just emitted.
    seq = session.scalar(
        select(Event.seq).where(Event.type == ESCALATE_EVENT, Event.subject == escalation)
    )
    return {
        "escalation": escalation,
        "seq": seq,
        "title": case_title,
        "alerts": [alert_document(alert) for alert in alerts],
    }


def _default_title(alerts: Sequence[Alert]) -> str:
    """A case title from its alerts: the most severe one's title, and how many more."""
    ranked = sorted(alerts, key=lambda a: (-SEVERITIES.index(a.severity), -a.score))
    first = ranked[0]
    more = f" (+{len(alerts) - 1} more alerts)" if len(alerts) > 1 else ""
    return f"{first.title} on {first.host}{more}"[:MAX_TITLE]


def run_document(run: DetectionRun) -> dict[str, Any]:
    """A detection run as the API and the UI show it."""
    return {
        "id": run.id,
        "kind": run.kind,
        "actor": run.actor,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "sources": run.sources,
        "counts": run.counts,
        "malformed": run.malformed,
        "error": run.error,
    }


def list_runs(session: Session, *, limit: int = 50) -> list[dict[str, Any]]:
    """The most recent detection runs, newest first."""
    if not 1 <= limit <= MAX_RUNS:
        raise InvalidInput(f"limit must be between 1 and {MAX_RUNS}", field="limit")
    runs = session.scalars(
        select(DetectionRun)
        .order_by(DetectionRun.started_at.desc(), DetectionRun.id.desc())
        .limit(limit)
    )
    return [run_document(run) for run in runs]
