"""What the requested node tells the requesting one: acknowledgement, progress, decisions,
consultations, withdrawal. Each handler moves this node's copy of the request on.

The partner's state and ours need not match step for step (its machine is richer than
what it tells), so a reported status moves our request only where our machine has that
step; otherwise it is kept in the timeline. A message is never refused for arriving "out of
order": refusing would leave it stuck in the partner's outbox for ever.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.cooperation.instruments import get_instrument
from watchkeeper.cooperation.machines import next_states
from watchkeeper.cooperation.models import CoopRequest
from watchkeeper.cooperation.requests import find_thread, record_step, transition
from watchkeeper.node import Node

REPORTED: dict[str, str] = {
    "ordered": "acknowledged",
    "preserved": "preserved",
    "ineffective-notified": "ineffective",
    "partial-traffic-disclosed": "preserved",
    "info-requested": "info-requested",
    "refused": "refused",
    "postponed": "postponed",
    "conditional": "in-execution",
    "partial": "in-execution",
    "in-execution": "in-execution",
    "executed": "in-execution",
    "expired": "expired",
    "released": "closed",
    "disclosed": "closed",
}
"""The partner's status of an incoming request -> ours of the outgoing one."""

DECIDED: dict[str, str] = {
    "grant": "in-execution",
    "partial": "in-execution",
    "conditional": "in-execution",
    "postpone": "postponed",
    "refuse": "refused",
}


def _ours(session: Session, envelope: dict[str, Any], direction: str = "out") -> CoopRequest:
    return find_thread(
        session, thread=str(envelope["thread"]), direction=direction, peer=str(envelope["from"])
    )


def _move(
    session: Session,
    *,
    node: Node,
    request: CoopRequest,
    to: str | None,
    action: str,
    actor: str,
    detail: dict[str, Any],
) -> None:
    """Move to ``to`` when that is a step from where the request is; else only record."""
    instrument = get_instrument(node.data_dir, request.instrument)
    if to is not None and to != request.status and to in next_states("out", request.status):
        transition(
            session,
            clock=node.clock,
            actor=actor,
            request=request,
            instrument=instrument,
            to=to,
            action=action,
            detail=detail,
        )
    else:
        record_step(
            session, clock=node.clock, actor=actor, request=request, action=action, detail=detail
        )


def on_ack(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
    """The partner acknowledged our request."""
    request = _ours(session, envelope)
    body = envelope.get("body") or {}
    if request.acked_at is None:
        request.acked_at = node.clock.now()
        request.acked_by = str(body.get("by") or envelope["from"])
    _move(
        session,
        node=node,
        request=request,
        to="acknowledged",
        action="acknowledged",
        actor=f"peer:{envelope['from']}",
        detail={"their_reference": body.get("reference"), "by": body.get("by")},
    )
    return {"status": request.status}


def on_status(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
    """The partner's progress on our request."""
    request = _ours(session, envelope)
    body = envelope.get("body") or {}
    reported = str(body.get("status") or "")
    detail = {"reported": reported, **(body.get("detail") or {})}
    if reported == "preserved" and request.type == "preservation":
        until = (body.get("detail") or {}).get("until")
        detail["until"] = until
    _move(
        session,
        node=node,
        request=request,
        to=REPORTED.get(reported),
        action=f"partner-{reported}",
        actor=f"peer:{envelope['from']}",
        detail=detail,
    )
    return {"status": request.status}


def on_decision(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
    """The partner's decision on our request, with its grounds and reasons."""
    request = _ours(session, envelope)
    body = dict(envelope.get("body") or {})
    request.decision = body
    machine = get_instrument(node.data_dir, request.instrument).request_type(request.type)
    # a granted preservation is "ordered" there; ours moves on when it is preserved
    decided = DECIDED if machine.incoming_machine == "mla" else {"refuse": "refused"}
    if body.get("conditions"):
        request.conditions = [*request.conditions, *body["conditions"]]
    _move(
        session,
        node=node,
        request=request,
        to=decided.get(str(body.get("decision"))),
        action="decided",
        actor=f"peer:{envelope['from']}",
        detail={"decision": body},
    )
    return {"status": request.status}


def on_consultation(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
    """The partner consults us before refusing or postponing (Art 40(26)-(27))."""
    request = _ours(session, envelope)
    body = envelope.get("body") or {}
    request.consultations = [
        *request.consultations,
        {"at": envelope.get("created"), "by": f"peer:{envelope['from']}", "note": body.get("note")},
    ]
    record_step(
        session,
        clock=node.clock,
        actor=f"peer:{envelope['from']}",
        request=request,
        action="consulted",
        detail={"note": body.get("note")},
    )
    return {"status": request.status}


def on_withdraw(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
    """The requesting state withdrew its request (Art 40(25))."""
    request = _ours(session, envelope, "in")
    body = envelope.get("body") or {}
    instrument = get_instrument(node.data_dir, request.instrument)
    detail = {"reason": body.get("reason")}
    actor = f"peer:{envelope['from']}"
    if request.status in ("closed", "withdrawn"):
        record_step(
            session,
            clock=node.clock,
            actor=actor,
            request=request,
            action="withdrawn",
            detail=detail,
        )
    else:
        transition(
            session,
            clock=node.clock,
            actor=actor,
            request=request,
            instrument=instrument,
            to="withdrawn",
            detail=detail,
        )
    return {"status": request.status}
