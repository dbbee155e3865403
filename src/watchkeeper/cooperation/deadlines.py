"""Deadlines and alarms of cooperation requests: the clocks nobody may miss.

A preservation holds data only for its period (Art 42(8): at least 60 days) and a domestic
order only until it expires (up to 90 days, renewable); the follow-up request for assistance
has to reach the partner before the preservation ends; an incoming request must be
acknowledged within the node's service level, and an outgoing one left unanswered for weeks
needs chasing. :func:`scan_deadlines` runs every minute in the workers: it raises each alarm
once, as an event (``cooperation.deadline.<kind>``) and an audit entry, which notify people and
feed indicators. An unacknowledged incoming request is handed to the next person on duty
(``roster``) with a fresh window, so a breach escalates step by step until someone answers.

Each raised alarm is remembered on the request as ``"<kind>@<due iso>"`` in ``alarms``: the
same deadline never alarms twice, and a moved deadline (a renewed order, a new window after an
escalation) alarms again. Nothing expires by itself: ending a preservation is a person's act.

The scan must stay cheap on a node with 100,000 requests: every candidate is chosen in SQL by
direction, status and a time bound, and only identifiers, due times and alarm keys are read
until a request actually needs an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from watchkeeper.cooperation.instruments import Instrument, get_instrument
from watchkeeper.cooperation.machines import FINAL
from watchkeeper.cooperation.models import CoopRequest, CoopRequestEvent
from watchkeeper.cooperation.roster import next_on_duty
from watchkeeper.core import Clock, FixedClock, utc
from watchkeeper.errors import NotFound
from watchkeeper.node import Node
from watchkeeper.security import record_change

ACTOR = "system:cooperation-deadlines"
KINDS = (
    "ack-breach",
    "preservation-ending",
    "preservation-ended",
    "order-renewal-due",
    "mla-follow-up-due",
    "unanswered",
    "written-confirmation-due",
)

PRESERVING = ("preserved", "partial-traffic-disclosed", "awaiting-mla")
"""Incoming preservation states in which the preserved data is held for the partner."""
ORDER_HELD = (
    "ordered",
    "preserved",
    "partial-traffic-disclosed",
    "ineffective-notified",
    "awaiting-mla",
    "mla-received",
    "held-pending-decision",
)
"""Incoming preservation states in which a domestic order must stay in force."""
FOLLOW_UP_WAITING = ("oral", "sent", "acknowledged", "preserved")
"""Outgoing preservation states in which the follow-up request is still to be sent."""
NOT_SENT = ("draft", "validated", "submitted", "approved", "withdrawn")
"""A follow-up request in these states has not (or no longer) reached the partner."""
AWAITING_ANSWER = ("oral", "sent", "acknowledged", "info-requested")
"""Outgoing states in which the partner has yet to answer."""


@dataclass(frozen=True)
class Alarm:
    """One raised alarm: which request, which deadline, and what to do about it."""

    kind: str
    request_id: str
    reference: str
    due_at: datetime
    message: str
    article: str | None


@dataclass(frozen=True)
class _Watch:
    """One kind of deadline: the column holding it and the requests it applies to.

    ``due = column + offset``; ``ahead`` says whether it alarms ahead of time (the alarm days)
    or only once passed.
    """

    kind: str
    column: InstrumentedAttribute[datetime | None]
    where: tuple[ColumnElement[bool], ...]
    offset: timedelta = timedelta(0)
    ahead: bool = True


def _follow_up_sent() -> ColumnElement[bool]:
    child = aliased(CoopRequest)
    return exists().where(
        child.parent_id == CoopRequest.id,
        child.direction == "out",
        child.status.not_in(NOT_SENT),
    )


def _watches(*, unanswered_days: int) -> tuple[_Watch, ...]:
    """Every watched deadline; ``deadline_rows`` names them by ``kind``."""
    return (
        _Watch(
            "ack",
            CoopRequest.ack_due_at,
            (
                CoopRequest.direction == "in",
                CoopRequest.acked_at.is_(None),
                CoopRequest.status.not_in(FINAL),
            ),
            ahead=False,
        ),
        _Watch(
            "preservation",
            CoopRequest.preserved_until,
            (
                CoopRequest.direction == "in",
                CoopRequest.type == "preservation",
                CoopRequest.status.in_(PRESERVING),
            ),
        ),
        _Watch(
            "order",
            CoopRequest.order_expires_at,
            (CoopRequest.direction == "in", CoopRequest.status.in_(ORDER_HELD)),
        ),
        _Watch(
            "mla-follow-up",
            CoopRequest.follow_up_due_at,
            (
                CoopRequest.direction == "out",
                CoopRequest.type == "preservation",
                CoopRequest.status.in_(FOLLOW_UP_WAITING),
                ~_follow_up_sent(),
            ),
        ),
        _Watch(
            "confirmation",
            CoopRequest.confirm_due_at,
            (CoopRequest.direction == "out", CoopRequest.status == "oral"),
            ahead=False,
        ),
        _Watch(
            "answer",
            CoopRequest.sent_at,
            (CoopRequest.direction == "out", CoopRequest.status.in_(AWAITING_ANSWER)),
            offset=timedelta(days=unanswered_days),
            ahead=False,
        ),
    )


def _bounded(watch: _Watch, until: datetime) -> ColumnElement[bool]:
    return and_(watch.column.is_not(None), watch.column <= until - watch.offset, *watch.where)


def _alarm_kind(watch: _Watch, *, due: datetime, now: datetime) -> str:
    if watch.kind == "preservation":
        return "preservation-ended" if due <= now else "preservation-ending"
    return {
        "ack": "ack-breach",
        "order": "order-renewal-due",
        "mla-follow-up": "mla-follow-up-due",
        "answer": "unanswered",
        "confirmation": "written-confirmation-due",
    }[watch.kind]


def alarm_key(kind: str, due: datetime) -> str:
    """How ``alarms`` remembers a raised alarm: the kind and the due time it was raised for."""
    return f"{kind}@{utc(due).isoformat()}"


class _Packs:
    """Instrument packs loaded on first need only (most scans raise nothing)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._loaded: dict[str, Instrument] = {}

    def get(self, instrument_id: str) -> Instrument:
        if instrument_id not in self._loaded:
            try:
                pack = get_instrument(self._node.data_dir, instrument_id)
            except NotFound:  # a pack removed since: its deadlines still need watching
                pack = get_instrument(self._node.data_dir, None)
            self._loaded[instrument_id] = pack
        return self._loaded[instrument_id]


def _when(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def _article(pack: Instrument, kind: str) -> str | None:
    if kind in ("ack-breach", "written-confirmation-due"):
        level = pack.service_levels.get("ack" if kind == "ack-breach" else "forthwith")
        return level.article if level is not None else None
    name = {
        "preservation-ending": "preservation-min",
        "preservation-ended": "preservation-min",
        "order-renewal-due": "domestic-order-max",
        "mla-follow-up-due": "mla-follow-up",
    }.get(kind)
    rule = pack.deadlines.get(name) if name is not None else None
    return rule.article if rule is not None else None


def _ack_minutes(pack: Instrument) -> int:
    level = pack.service_levels.get("ack")
    if level is None:
        raise NotFound(
            f"instrument {pack.id}: service_levels: no 'ack' service level to escalate with",
            field="service_levels.ack",
            instrument=pack.id,
        )
    return level.minutes


def _message(kind: str, request: CoopRequest, *, due: datetime, unanswered_days: int) -> str:
    ref = request.reference
    when = _when(due)
    texts = {
        "preservation-ending": f"the preservation under {ref} ends {when}: the follow-up "
        "request must arrive by then, or the preservation be extended",
        "preservation-ended": f"the preservation under {ref} ended {when}: release the data "
        "and expire the request unless the follow-up request has arrived",
        "order-renewal-due": f"the domestic preservation order of {ref} expires {when}: "
        "renew it if the data must still be held",
        "mla-follow-up-due": f"the follow-up request for assistance to preservation {ref} is "
        f"due by {when}: draft and send it before the preservation ends",
        "written-confirmation-due": f"{ref} was made orally to {request.requested_state}; its "
        f"written confirmation was due forthwith, by {when}: send it",
        "unanswered": f"{ref} to {request.requested_state} has had no answer for "
        f"{unanswered_days} days (sent {_when(request.sent_at or due)})",
    }
    return texts[kind]


def _escalate(
    session: Session, request: CoopRequest, *, clock: Clock, pack: Instrument, due: datetime
) -> str:
    """Hand an unacknowledged request to the next person on duty with a fresh window."""
    now = clock.now()
    before = request.assignee
    after = next_on_duty(session, at=now, after=before)
    if after is None:  # the order is exhausted: call from the top again
        after = next_on_duty(session, at=now, after=None)
    assignee = after or before  # nobody on duty: it stays with whoever had it
    minutes = _ack_minutes(pack)
    request.assignee = assignee
    request.escalations = (request.escalations or 0) + 1
    request.ack_due_at = now + timedelta(minutes=minutes)
    request.updated_at = now
    session.add(
        CoopRequestEvent(
            request_id=request.id,
            at=now,
            actor=ACTOR,
            action="escalated",
            from_status=None,
            to_status=None,
            detail={
                "from": before,
                "to": assignee,
                "breached": utc(due).isoformat(),
                "ack_due_at": request.ack_due_at.isoformat(),
                "escalations": request.escalations,
            },
        )
    )
    return (
        f"{request.reference} was not acknowledged by {_when(due)} "
        f"({before or 'nobody assigned'}); now with {assignee or 'nobody (no one on duty)'}, "
        f"to acknowledge within {minutes} minutes"
    )


def scan_deadlines(session: Session, *, node: Node, now: datetime | None = None) -> list[Alarm]:
    """Raise every deadline alarm not raised yet (events and audit entries), escalating
    unacknowledged incoming requests; returns what was raised."""
    clock: Clock = node.clock if now is None else FixedClock(now)
    moment = clock.now()
    settings = node.settings
    lead = timedelta(days=settings.cooperation_alarm_days)
    packs = _Packs(node)
    alarms: list[Alarm] = []
    for watch in _watches(unanswered_days=settings.cooperation_unanswered_days):
        until = moment + lead if watch.ahead else moment
        query = select(CoopRequest.id, watch.column, CoopRequest.alarms).where(
            _bounded(watch, until)
        )
        for request_id, value, raised in session.execute(query).all():
            due = utc(value) + watch.offset
            kind = _alarm_kind(watch, due=due, now=moment)
            if alarm_key(kind, due) in (raised or []):
                continue
            alarm = _raise(session, request_id, watch=watch, kind=kind, clock=clock, packs=packs)
            if alarm is not None:
                alarms.append(alarm)
    return alarms


def _raise(
    session: Session,
    request_id: str,
    *,
    watch: _Watch,
    kind: str,
    clock: Clock,
    packs: _Packs,
) -> Alarm | None:
    request = session.get(CoopRequest, request_id, with_for_update=True)
    value = getattr(request, watch.column.key) if request is not None else None
    if request is None or value is None:  # changed since the candidates were read
        return None
    due = utc(value) + watch.offset
    key = alarm_key(kind, due)
    if key in (request.alarms or []):
        return None
    pack = packs.get(request.instrument)
    request.alarms = [*(request.alarms or []), key]
    if kind == "ack-breach":
        message = _escalate(session, request, clock=clock, pack=pack, due=due)
    else:
        message = _message(kind, request, due=due, unanswered_days=watch.offset.days)
    alarm = Alarm(
        kind=kind,
        request_id=request.id,
        reference=request.reference,
        due_at=due,
        message=message,
        article=_article(pack, kind),
    )
    record_change(
        session,
        clock=clock,
        actor=ACTOR,
        action=f"cooperation.deadline.{kind}",
        subject=f"coop-request:{request.id}",
        detail={
            "kind": kind,
            "reference": request.reference,
            "type": request.type,
            "direction": request.direction,
            "due_at": due.isoformat(),
            "assignee": request.assignee,
            "message": message,
            "article": alarm.article,
        },
    )
    return alarm


def deadline_rows(
    session: Session,
    *,
    now: datetime,
    horizon_days: int = 30,
    unanswered_days: int = 30,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Open requests with a deadline passed or within ``horizon_days``, soonest first (the
    first ``limit`` of them: each kind's query stops there, so a page stays cheap).

    ``kind`` is ``ack`` (acknowledge an incoming request), ``preservation`` (the preserved
    period ends), ``order`` (the domestic order expires), ``mla-follow-up`` (send the follow-up
    request), ``confirmation`` (confirm an oral request in writing) or ``answer`` (the
    partner's answer is overdue after ``unanswered_days``).
    """
    moment = utc(now)
    until = moment + timedelta(days=horizon_days)
    rows: list[dict[str, Any]] = []
    for watch in _watches(unanswered_days=unanswered_days):
        query = select(
            CoopRequest.id,
            CoopRequest.reference,
            CoopRequest.type,
            CoopRequest.direction,
            CoopRequest.status,
            CoopRequest.assignee,
            watch.column,
        ).where(_bounded(watch, until))
        if limit is not None:
            query = query.order_by(watch.column, CoopRequest.id).limit(limit)
        for request_id, reference, type_, direction, status, assignee, value in session.execute(
            query
        ):
            if value is None:
                continue
            due = utc(value) + watch.offset
            rows.append(
                {
                    "id": request_id,
                    "reference": reference,
                    "type": type_,
                    "direction": direction,
                    "status": status,
                    "kind": watch.kind,
                    "due_at": due,
                    "overdue": due <= moment,
                    "assignee": assignee,
                }
            )
    rows.sort(key=lambda row: (row["due_at"], row["reference"], row["kind"]))
    return rows if limit is None else rows[:limit]


def run_deadlines(node: Node) -> list[Alarm]:
    """One scan in a transaction of its own (the workers' loop calls this every minute)."""
    with node.database.transaction() as session:
        return scan_deadlines(session, node=node)
