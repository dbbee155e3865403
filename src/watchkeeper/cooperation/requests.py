"""Requests: drafting an outgoing one, finding, listing and showing any, and moving them on.

Every change of a request goes through :func:`transition` or :func:`note`, which write the
timeline entry, the audit entry and the event in the caller's transaction; the state machine
(``machines``) decides which steps exist. Links to evidence and indicators are checked when
made; the case is the responding area's, so its entry points resolve it before calling here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.cooperation.instruments import Instrument, RequestTypeRule, get_instrument
from watchkeeper.cooperation.machines import check_transition, machine_name
from watchkeeper.cooperation.models import CoopRequest, CoopRequestEvent
from watchkeeper.cooperation.request_fields import RequestFields, fields_values
from watchkeeper.cooperation.states import get_state
from watchkeeper.cooperation.transport import queue_message
from watchkeeper.core import Clock, new_id, utc
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.evidence import find_item
from watchkeeper.intel import object_versions
from watchkeeper.node import Node
from watchkeeper.security import Peer, list_peers, record_change
from watchkeeper.store import serialize

EDITABLE = ("draft", "validated")
"""An outgoing request can be edited until it is submitted for approval (then it goes back
to draft on edit, so it is checked and approved again)."""

REFERENCE_LOCK = "coop-request-reference"


def next_reference(session: Session, *, direction: str, year: int) -> str:
    serialize(session, REFERENCE_LOCK)
    prefix = f"{direction.upper()}-{year}-"
    count = session.scalar(
        select(func.count())
        .select_from(CoopRequest)
        .where(CoopRequest.reference.like(f"{prefix}%"))
    )
    return f"{prefix}{(count or 0) + 1:06d}"


def find_request(session: Session, ref: str, *, for_update: bool = False) -> CoopRequest:
    """The request with this id or reference (``NotFound`` naming ``request list``)."""
    wanted = (ref or "").strip()
    query = select(CoopRequest).where(
        (CoopRequest.id == wanted) | (CoopRequest.reference == wanted.upper())
    )
    if for_update:
        query = query.with_for_update()
    request = session.scalars(query).first()
    if request is None:
        raise NotFound(f"no request {ref!r}; see: watchkeeper request list", request=ref)
    return request


def find_directed(session: Session, ref: str, *, direction: str) -> CoopRequest:
    """The request ``ref``, locked, if it goes that way (``InvalidInput`` otherwise): a step
    of the requested state is never taken on an outgoing request, nor the reverse."""
    request = find_request(session, ref, for_update=True)
    if request.direction != direction:
        other = "an incoming" if request.direction == "in" else "an outgoing"
        wanted = "incoming" if direction == "in" else "outgoing"
        raise InvalidInput(
            f"{request.reference} is {other} request; this step is for {wanted} ones",
            reason="direction",
        )
    return request


def tell(
    session: Session,
    *,
    node: Node,
    actor: str,
    request: CoopRequest,
    kind: str,
    body: dict[str, Any],
) -> None:
    """Queue a message of ``kind`` about ``request`` to its partner node (in the caller's
    transaction, with the step it reports); nothing when no partner node is registered."""
    if request.peer:
        queue_message(
            session,
            node=node,
            clock=node.clock,
            actor=actor,
            peer=request.peer,
            kind=kind,
            thread=request.thread,
            body=body,
        )


def find_thread(session: Session, *, thread: str, direction: str, peer: str) -> CoopRequest:
    """This node's request of a message's thread, with the peer it is exchanged with."""
    request = session.scalars(
        select(CoopRequest)
        .where(
            CoopRequest.thread == thread,
            CoopRequest.direction == direction,
            CoopRequest.peer == peer,
        )
        .with_for_update()
    ).first()
    if request is None:
        raise NotFound(
            f"no {direction} request of thread {thread} with {peer}",
            reason="unknown-thread",
            thread=thread,
        )
    return request


def record_step(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    request: CoopRequest,
    action: str,
    detail: dict[str, Any] | None = None,
    to_status: str | None = None,
) -> None:
    """Timeline entry, audit entry and event for one step of ``request`` (and its new status)."""
    now = clock.now()
    before = request.status
    if to_status is not None:
        request.status = to_status
    request.updated_at = now
    detail = dict(detail or {})
    session.add(
        CoopRequestEvent(
            request_id=request.id,
            at=now,
            actor=actor,
            action=action,
            from_status=before if to_status is not None else None,
            to_status=to_status,
            detail=detail,
        )
    )
    record_change(
        session,
        clock=clock,
        actor=actor,
        action=f"cooperation.request.{action}",
        subject=f"coop-request:{request.id}",
        detail={
            "reference": request.reference,
            "type": request.type,
            "direction": request.direction,
            "status": request.status,
            **({"from": before} if to_status is not None else {}),
            **detail,
        },
    )


def transition(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    request: CoopRequest,
    instrument: Instrument,
    to: str,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Move ``request`` to ``to`` if its machine allows that step (``Conflict`` otherwise)."""
    rule = instrument.request_type(request.type)
    machine = machine_name(direction=request.direction, incoming_machine=rule.incoming_machine)
    check_transition(machine, current=request.status, target=to, reference=request.reference)
    record_step(
        session,
        clock=clock,
        actor=actor,
        request=request,
        action=action or to,
        detail=detail,
        to_status=to,
    )


def peer_for_state(session: Session, state: str) -> Peer | None:
    """The partner node registered for ``state`` (first by code), if any."""
    for peer in list_peers(session):
        if peer.country.upper() == state.upper():
            return peer
    return None


def _check_indicators(session: Session, indicator_ids: list[str]) -> None:
    for stix_id in indicator_ids:
        if not object_versions(session, stix_id=stix_id):
            raise NotFound(f"no intelligence object {stix_id}", field="indicator_ids")


def _apply(
    session: Session,
    request: CoopRequest,
    *,
    rule: RequestTypeRule,
    fields: RequestFields,
) -> None:
    """Copy the given fields onto ``request``, checking what can be checked at once."""
    values = fields_values(fields)
    unknown = sorted(set(fields.contents) - {item.key for item in rule.contents})
    if unknown:
        valid = ", ".join(item.key for item in rule.contents)
        raise InvalidInput(
            f"{rule.key} has no item {', '.join(unknown)}; its items: {valid}",
            field="contents",
            unknown=unknown,
        )
    if fields.channel is not None:
        if fields.channel not in rule.channels:
            raise InvalidInput(
                f"channel {fields.channel!r} is not used for {rule.key}; "
                f"use one of: {', '.join(rule.channels)}",
                field="channel",
            )
        request.channel = fields.channel
    if fields.peer is not None:
        request.peer = fields.peer
    for name in ("language", "urgent", "confidential", "no_user_notice", "case_id"):
        if name in values:
            setattr(request, name, values[name])
    if fields.contents:
        request.contents = {**request.contents, **fields.contents}
    for name in ("offence", "period"):
        if name in values:
            setattr(request, name, values[name])
    for name in ("data", "use_limits", "conditions"):
        if name in values:
            setattr(request, name, values[name] or [])
    evidence = [find_item(session, ref).id for ref in (fields.evidence_ids or [])]
    indicators = list(fields.indicator_ids or [])
    _check_indicators(session, indicators)
    if fields.evidence_ids is not None:
        request.evidence_ids = evidence
    if fields.indicator_ids is not None:
        request.indicator_ids = indicators
    if fields.parent is not None:
        parent = find_request(session, fields.parent)
        if parent.direction != "out" or parent.type != "preservation":
            raise InvalidInput(
                f"{parent.reference} is not an outgoing preservation request; a follow-up "
                "request names the preservation it follows (Art. 42)",
                field="parent",
            )
        request.parent_id = parent.id
        request.peer = request.peer or parent.peer


def new_request(
    session: Session,
    *,
    node: Node,
    actor: str,
    type: str,
    to_state: str,
    instrument_id: str | None = None,
    fields: RequestFields | None = None,
    request_id: str | None = None,
) -> CoopRequest:
    """Draft an outgoing request of ``type`` to ``to_state`` from this node's state
    (``request_id``: a given id, for drafts that must be made once)."""
    instrument = get_instrument(node.data_dir, instrument_id)
    rule = instrument.request_type(type)
    identity = node.identity()
    to_state = to_state.strip().upper()
    if len(to_state) != 2 or not to_state.isalpha():
        raise InvalidInput(f"state {to_state!r}: expected a two-letter ISO 3166 code", field="to")
    try:
        languages = list(get_state(session, to_state).languages or [])
    except NotFound:  # drafting is allowed; the checks explain a state we know nothing of
        languages = []
    peer = peer_for_state(session, to_state)
    now = node.clock.now()
    request_id = request_id or new_id()
    request = CoopRequest(
        id=request_id,
        reference=next_reference(session, direction="out", year=now.year),
        thread=request_id,
        direction="out",
        type=rule.key,
        instrument=instrument.id,
        requesting_state=identity.country.upper(),
        requested_state=to_state,
        peer=peer.code if peer is not None else None,
        channel=rule.channels[0],
        language=(languages or ["en"])[0],
        urgent=rule.urgent_default,
        status="draft",
        contents={},
        offence={},
        data=[],
        period=None,
        confidential=True,
        no_user_notice=False,
        use_limits=[],
        conditions=[],
        evidence_ids=[],
        indicator_ids=[],
        author=actor,
        consultations=[],
        created_at=now,
        updated_at=now,
        escalations=0,
        alarms=[],
    )
    _apply(session, request, rule=rule, fields=fields or RequestFields())
    session.add(request)
    session.flush()
    record_step(
        session,
        clock=node.clock,
        actor=actor,
        request=request,
        action="created",
        detail={"to": to_state, "instrument": instrument.id},
    )
    return request


def update_request(
    session: Session, *, node: Node, actor: str, ref: str, fields: RequestFields
) -> CoopRequest:
    """Change a draft (a checked one goes back to draft, to be checked again)."""
    request = find_request(session, ref, for_update=True)
    if request.direction != "out" or request.status not in EDITABLE:
        raise InvalidInput(
            f"request {request.reference} is {request.status}; only a draft or validated "
            "outgoing request can be changed",
            reason="not-editable",
        )
    instrument = get_instrument(node.data_dir, request.instrument)
    _apply(session, request, rule=instrument.request_type(request.type), fields=fields)
    changed = sorted(fields_values(fields))
    record_step(
        session,
        clock=node.clock,
        actor=actor,
        request=request,
        action="edited",
        detail={"fields": changed},
        to_status="draft" if request.status != "draft" else None,
    )
    return request


def _time(value: datetime | None) -> str | None:
    return utc(value).isoformat() if value is not None else None


def timeline(session: Session, request: CoopRequest) -> list[dict[str, Any]]:
    """The request's steps, oldest first."""
    rows = session.scalars(
        select(CoopRequestEvent)
        .where(CoopRequestEvent.request_id == request.id)
        .order_by(CoopRequestEvent.id)
    )
    return [
        {
            "at": _time(row.at),
            "actor": row.actor,
            "action": row.action,
            "from": row.from_status,
            "to": row.to_status,
            "detail": row.detail,
        }
        for row in rows
    ]


def request_document(
    request: CoopRequest, *, steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A request as JSON (the shape of docs and messages; ``timeline`` when given)."""
    document: dict[str, Any] = {
        "id": request.id,
        "reference": request.reference,
        "thread": request.thread,
        "direction": request.direction,
        "type": request.type,
        "instrument": request.instrument,
        "requesting_state": request.requesting_state,
        "requested_state": request.requested_state,
        "peer": request.peer,
        "channel": request.channel,
        "language": request.language,
        "urgent": request.urgent,
        "status": request.status,
        "contents": request.contents,
        "offence": request.offence,
        "data": request.data,
        "period": request.period,
        "confidential": request.confidential,
        "no_user_notice": request.no_user_notice,
        "use_limits": request.use_limits,
        "conditions": request.conditions,
        "case_id": request.case_id,
        "evidence_ids": request.evidence_ids,
        "indicator_ids": request.indicator_ids,
        "parent_id": request.parent_id,
        "author": request.author,
        "approver": request.approver,
        "screen": request.screen,
        "decision": request.decision,
        "consultations": request.consultations,
        "created_at": _time(request.created_at),
        "updated_at": _time(request.updated_at),
        "sent_at": _time(request.sent_at),
        "acked_at": _time(request.acked_at),
        "acked_by": request.acked_by,
        "ack_due_at": _time(request.ack_due_at),
        "preserved_at": _time(request.preserved_at),
        "preserved_until": _time(request.preserved_until),
        "order_expires_at": _time(request.order_expires_at),
        "follow_up_due_at": _time(request.follow_up_due_at),
        "confirm_due_at": _time(request.confirm_due_at),
        "assignee": request.assignee,
        "escalations": request.escalations,
    }
    if steps is not None:
        document["timeline"] = steps
    return document


def list_requests(
    session: Session,
    *,
    direction: str | None = None,
    status: str | None = None,
    type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[CoopRequest]:
    """Requests, newest first, filtered by direction, status and type."""
    query = select(CoopRequest)
    if direction is not None:
        query = query.where(CoopRequest.direction == direction)
    if status is not None:
        query = query.where(CoopRequest.status == status)
    if type is not None:
        query = query.where(CoopRequest.type == type)
    query = query.order_by(CoopRequest.created_at.desc(), CoopRequest.id).limit(limit)
    return list(session.scalars(query.offset(offset)))
