"""An incoming request's way through: the 24/7 inbox, acknowledgement, checks, preservation.

An incoming request lands in the inbox with an acknowledgement clock (the "ack" service
level of its instrument) and is given to whoever is first on duty; the roster escalates it
when nobody acknowledges in time (``deadlines``). Each step the requesting state cares about
is sent back to it as a status message, so both sides see the same progress (Art 40(25)).
Decisions live in ``decisions``; results in ``results``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.cooperation.instruments import Instrument, get_instrument
from watchkeeper.cooperation.models import CoopRequest
from watchkeeper.cooperation.requests import (
    find_directed,
    find_thread,
    next_reference,
    record_step,
    tell,
    transition,
)
from watchkeeper.cooperation.roster import on_duty
from watchkeeper.core import new_id
from watchkeeper.errors import Conflict, InvalidInput
from watchkeeper.node import Node
from watchkeeper.security import Principal

DUTY_ROLES = ("poc-officer", "central-authority")
NOTIFIED = frozenset(
    {
        "ordered",
        "preserved",
        "ineffective-notified",
        "partial-traffic-disclosed",
        "info-requested",
        "refused",
        "postponed",
        "conditional",
        "partial",
        "in-execution",
        "executed",
        "expired",
        "released",
        "disclosed",
        "closed",
    }
)
"""Incoming steps the requesting state is told of."""


def _incoming(session: Session, ref: str) -> CoopRequest:
    return find_directed(session, ref, direction="in")


def notify(
    session: Session,
    *,
    node: Node,
    actor: str,
    request: CoopRequest,
    detail: dict[str, Any] | None = None,
) -> None:
    """Tell the requesting node the request's new status (when it is one it cares about)."""
    if request.status in NOTIFIED:
        tell(
            session,
            node=node,
            actor=actor,
            request=request,
            kind="status",
            body={"status": request.status, "detail": detail or {}},
        )


def step(
    session: Session,
    *,
    node: Node,
    actor: str,
    request: CoopRequest,
    instrument: Instrument,
    to: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """One checked transition of an incoming request, told to the requesting node."""
    transition(
        session,
        clock=node.clock,
        actor=actor,
        request=request,
        instrument=instrument,
        to=to,
        detail=detail,
    )
    notify(session, node=node, actor=actor, request=request, detail=detail)


def receive_request(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
    """Register a "request" message as an incoming request in the inbox (the handler)."""
    body = envelope.get("body") or {}
    sender = str(envelope["from"])
    thread = str(envelope["thread"])
    existing = session.scalars(
        select(CoopRequest).where(
            CoopRequest.thread == thread,
            CoopRequest.direction == "in",
            CoopRequest.peer == sender,
        )
    ).first()
    if existing is not None:
        raise Conflict(f"thread {thread} is already registered as {existing.reference}")
    instrument = get_instrument(node.data_dir, body.get("instrument"))
    rule = instrument.request_type(str(body.get("type", "")))
    identity = node.identity()
    now = node.clock.now()
    minutes = instrument.service_levels["ack"].minutes
    if body.get("urgent") and "ack-urgent" in instrument.service_levels:
        minutes = instrument.service_levels["ack-urgent"].minutes
    duty = on_duty(session, at=now)
    request = CoopRequest(
        id=new_id(),
        reference=next_reference(session, direction="in", year=now.year),
        thread=thread,
        direction="in",
        type=rule.key,
        instrument=instrument.id,
        requesting_state=str(body.get("requesting_state", "")).upper()[:2],
        requested_state=identity.country.upper(),
        peer=sender,
        channel=str(body.get("channel") or rule.channels[0]),
        language=str(body.get("language") or "en"),
        urgent=bool(body.get("urgent")),
        status="received",
        contents=dict(body.get("contents") or {}),
        offence=dict(body.get("offence") or {}),
        data=list(body.get("data") or []),
        period=body.get("period"),
        confidential=bool(body.get("confidential", True)),
        no_user_notice=bool(body.get("no_user_notice")),
        use_limits=list(body.get("use_limits") or []),
        conditions=list(body.get("conditions") or []),
        evidence_ids=[],
        indicator_ids=[],
        author=f"peer:{sender}",
        consultations=[],
        created_at=now,
        updated_at=now,
        ack_due_at=now + timedelta(minutes=minutes),
        assignee=duty[0].person if duty else None,
        escalations=0,
        alarms=[],
    )
    parent_thread = body.get("parent_thread")
    session.add(request)
    session.flush()
    record_step(
        session,
        clock=node.clock,
        actor=f"peer:{sender}",
        request=request,
        action="received",
        detail={
            "their_reference": body.get("reference"),
            "message": envelope.get("id"),
            "assignee": request.assignee,
        },
    )
    if parent_thread:
        _follow_up(session, node=node, request=request, sender=sender, thread=str(parent_thread))
    return {"reference": request.reference, "status": request.status}


def _follow_up(
    session: Session, *, node: Node, request: CoopRequest, sender: str, thread: str
) -> None:
    """Link a follow-up request to the preservation it follows; that now holds the data
    until the follow-up is decided (Art 42)."""
    parent = find_thread(session, thread=thread, direction="in", peer=sender)
    request.parent_id = parent.id
    instrument = get_instrument(node.data_dir, parent.instrument)
    actor = f"peer:{sender}"
    if parent.status in ("preserved", "partial-traffic-disclosed", "awaiting-mla"):
        step(
            session,
            node=node,
            actor=actor,
            request=parent,
            instrument=instrument,
            to="mla-received",
            detail={"follow_up": request.reference},
        )
        step(
            session,
            node=node,
            actor=actor,
            request=parent,
            instrument=instrument,
            to="held-pending-decision",
            detail={"follow_up": request.reference, "article": "42"},
        )
    else:
        record_step(
            session,
            clock=node.clock,
            actor=actor,
            request=parent,
            action="follow-up-received",
            detail={"follow_up": request.reference},
        )


def acknowledge(session: Session, *, node: Node, principal: Principal, ref: str) -> CoopRequest:
    """The duty officer acknowledges an incoming request; the requesting node is told."""
    principal.require(*DUTY_ROLES)
    request = _incoming(session, ref)
    if request.acked_at is not None:
        raise Conflict(
            f"{request.reference} was acknowledged by {request.acked_by} at "
            f"{request.acked_at.isoformat()}",
            reason="acknowledged",
        )
    now = node.clock.now()
    request.acked_at = now
    request.acked_by = principal.actor
    request.assignee = request.assignee or principal.name
    late = request.ack_due_at is not None and now > request.ack_due_at
    record_step(
        session,
        clock=node.clock,
        actor=principal.actor,
        request=request,
        action="acknowledged",
        detail={"late": late},
    )
    tell(
        session,
        node=node,
        actor=principal.actor,
        request=request,
        kind="ack",
        body={"reference": request.reference, "by": principal.actor, "at": now.isoformat()},
    )
    return request


def _first_step(request: CoopRequest, instrument: Instrument) -> list[str]:
    machine = instrument.request_type(request.type).incoming_machine
    if machine == "preservation":
        return ["checked"]
    return ["completeness", "legal-review"]


def check_incoming(
    session: Session, *, node: Node, principal: Principal, ref: str, note: str = ""
) -> CoopRequest:
    """Record that an incoming request was checked for its required contents (Art 42(3)
    or 40(15)); it then awaits a decision."""
    principal.require(*DUTY_ROLES)
    request = _incoming(session, ref)
    if request.acked_at is None:
        raise InvalidInput(f"acknowledge {request.reference} first", reason="not-acknowledged")
    instrument = get_instrument(node.data_dir, request.instrument)
    for target in _first_step(request, instrument):
        step(
            session,
            node=node,
            actor=principal.actor,
            request=request,
            instrument=instrument,
            to=target,
            detail={"note": note} if note else None,
        )
    return request


def preserve(
    session: Session,
    *,
    node: Node,
    principal: Principal,
    ref: str,
    days: int | None = None,
    evidence_ids: list[str] | None = None,
) -> CoopRequest:
    """Data preserved under the domestic order: held at least the minimum period (Art 42),
    the domestic order running for at most its maximum, renewable (Art 25)."""
    principal.require(*DUTY_ROLES)
    request = _incoming(session, ref)
    instrument = get_instrument(node.data_dir, request.instrument)
    minimum = instrument.deadlines["preservation-min"]
    order = instrument.deadlines["domestic-order-max"]
    wanted = days if days is not None else minimum.days
    if wanted < minimum.days:
        raise InvalidInput(
            f"preservation lasts at least {minimum.days} days (Art. {minimum.article}); "
            f"{wanted} asked",
            field="days",
            article=minimum.article,
        )
    now = node.clock.now()
    request.preserved_at = now
    request.preserved_until = now + timedelta(days=wanted)
    request.order_expires_at = now + timedelta(days=min(wanted, order.days))
    if evidence_ids:
        request.evidence_ids = sorted({*request.evidence_ids, *evidence_ids})
    step(
        session,
        node=node,
        actor=principal.actor,
        request=request,
        instrument=instrument,
        to="preserved",
        detail={
            "until": request.preserved_until.isoformat(),
            "order_expires_at": request.order_expires_at.isoformat(),
        },
    )
    return request


def renew_order(
    session: Session, *, node: Node, principal: Principal, ref: str, days: int | None = None
) -> CoopRequest:
    """Renew the domestic preservation order for up to its maximum again (Art 25)."""
    principal.require(*DUTY_ROLES)
    request = _incoming(session, ref)
    instrument = get_instrument(node.data_dir, request.instrument)
    order = instrument.deadlines["domestic-order-max"]
    wanted = days if days is not None else order.days
    if not 0 < wanted <= order.days:
        raise InvalidInput(
            f"a domestic order runs for at most {order.days} days (Art. {order.article})",
            field="days",
            article=order.article,
        )
    if request.order_expires_at is None or request.status not in (
        "preserved",
        "partial-traffic-disclosed",
        "awaiting-mla",
        "mla-received",
        "held-pending-decision",
    ):
        raise Conflict(f"{request.reference} has no running preservation order", reason="status")
    start: datetime = max(request.order_expires_at, node.clock.now())
    request.order_expires_at = start + timedelta(days=wanted)
    if request.preserved_until is None or request.preserved_until < request.order_expires_at:
        request.preserved_until = request.order_expires_at
    record_step(
        session,
        clock=node.clock,
        actor=principal.actor,
        request=request,
        action="order-renewed",
        detail={"order_expires_at": request.order_expires_at.isoformat(), "article": order.article},
    )
    return request


def advance(
    session: Session,
    *,
    node: Node,
    principal: Principal,
    ref: str,
    to: str,
    note: str = "",
) -> CoopRequest:
    """Any other step of an incoming request the machine allows (ineffective notice,
    awaiting the follow-up, execution, release, expiry, closing), with its guards."""
    principal.require(*DUTY_ROLES)
    request = _incoming(session, ref)
    instrument = get_instrument(node.data_dir, request.instrument)
    if to == "ineffective-notified" and not note.strip():
        raise InvalidInput(
            "say why preservation will not secure the data or would harm the investigation "
            "(Art. 42)",
            field="note",
        )
    if to == "expired":
        minimum = instrument.deadlines["preservation-min"]
        start = request.preserved_at or request.created_at
        if node.clock.now() < start + timedelta(days=minimum.days):
            raise Conflict(
                f"{request.reference} cannot expire before day {minimum.days} of preservation "
                f"(Art. {minimum.article})",
                reason="too-early",
                article=minimum.article,
            )
    step(
        session,
        node=node,
        actor=principal.actor,
        request=request,
        instrument=instrument,
        to=to,
        detail={"note": note.strip()} if note.strip() else None,
    )
    return request
