"""Deciding an incoming request: grant, partial, conditional, postpone or refuse — lawfully.

The instrument pack says which refusal grounds a request type admits and which grounds are
never valid (bank secrecy, fiscal grounds alone); this module holds a decision to that, and
to the rules of form: reasons for anything but a plain grant (Art 40(24)), consultation with
the requesting state before refusing or postponing (Art 40(26)-(27)), conditions for a
conditional grant. The decision is sent to the requesting node with its grounds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.cooperation.incoming import DUTY_ROLES
from watchkeeper.cooperation.instruments import Instrument, get_instrument
from watchkeeper.cooperation.models import CoopRequest
from watchkeeper.cooperation.requests import find_directed, record_step, tell, transition
from watchkeeper.cooperation.states import get_state
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.node import Node
from watchkeeper.security import Principal

DECISIONS = ("grant", "partial", "conditional", "postpone", "refuse")
DECIDE_ROLES = (*DUTY_ROLES, "legal-reviewer")

_TARGETS: dict[str, dict[str, str]] = {
    "preservation": {
        "grant": "ordered",
        "partial": "ordered",
        "conditional": "ordered",
        "refuse": "refused",
    },
    "mla": {
        "grant": "in-execution",
        "partial": "partial",
        "conditional": "conditional",
        "postpone": "postponed",
        "refuse": "refused",
    },
}
"""The status each decision leads to, per incoming machine (a preservation is never
postponed: it is ordered or refused)."""


def _has_reservation(session: Session, *, state: str, instrument: str) -> bool:
    try:
        record = get_state(session, state)
    except NotFound:
        return False
    entry = (record.instruments or {}).get(instrument) or {}
    return any(
        str(text).replace("Art.", "").replace("Art", "").strip().startswith("42")
        or "dual" in str(text).lower()
        for text in entry.get("reservations") or []
    )


def check_ground(
    session: Session, *, request: CoopRequest, instrument: Instrument, ground: str
) -> str:
    """The article of ``ground`` if it may refuse ``request``; ``InvalidInput`` saying why not."""
    rule = instrument.request_type(request.type)
    never = instrument.never_valid_grounds.get(ground)
    if never is not None:
        raise InvalidInput(
            f"{never.label} is never a ground for refusal (Art. {never.article})",
            reason="invalid-ground",
            field="ground",
            article=never.article,
        )
    if ground == "no-dual-criminality" and rule.dual_criminality == "never":
        raise InvalidInput(
            f"dual criminality is not required for {rule.label} (Art. {rule.article}); "
            "absence of it is no ground here",
            reason="invalid-ground",
            field="ground",
            article=rule.article,
        )
    if ground not in rule.refusal_grounds:
        raise InvalidInput(
            f"{ground!r} is not a ground for refusing {rule.label} (Art. {rule.article}); "
            f"allowed: {', '.join(rule.refusal_grounds) or 'none'}",
            reason="invalid-ground",
            field="ground",
            allowed=list(rule.refusal_grounds),
        )
    detail = instrument.refusal_grounds[ground]
    if ground == "dc-reservation":
        if not _has_reservation(session, state=request.requested_state, instrument=instrument.id):
            raise InvalidInput(
                f"{request.requested_state} made no dual-criminality reservation to "
                f"{instrument.short} (Art. {detail.article}); record it first "
                "(watchkeeper parties set) if it did",
                reason="invalid-ground",
                field="ground",
                article=detail.article,
            )
        basis = str((request.offence or {}).get("basis") or "")
        if basis in instrument.offences:
            raise InvalidInput(
                f"the reservation covers only offences outside the convention; "
                f"{basis} is a convention offence (Art. {detail.article})",
                reason="invalid-ground",
                field="ground",
                article=detail.article,
            )
    return detail.article


def consult(
    session: Session, *, node: Node, principal: Principal, ref: str, note: str
) -> CoopRequest:
    """Consult the requesting state (before refusing or postponing, Art 40(26)-(27))."""
    principal.require(*DECIDE_ROLES)
    if not note.strip():
        raise InvalidInput("say what is being consulted on", field="note")
    request = find_directed(session, ref, direction="in")
    instrument = get_instrument(node.data_dir, request.instrument)
    now = node.clock.now()
    request.consultations = [
        *request.consultations,
        {"at": now.isoformat(), "by": principal.actor, "note": note.strip()},
    ]
    if request.status == "legal-review":
        transition(
            session,
            clock=node.clock,
            actor=principal.actor,
            request=request,
            instrument=instrument,
            to="consultation",
            detail={"note": note.strip()},
        )
    else:
        record_step(
            session,
            clock=node.clock,
            actor=principal.actor,
            request=request,
            action="consulted",
            detail={"note": note.strip()},
        )
    tell(
        session,
        node=node,
        actor=principal.actor,
        request=request,
        kind="consultation",
        body={"note": note.strip(), "article": "40(26)-(27)"},
    )
    return request


def decide(
    session: Session,
    *,
    node: Node,
    principal: Principal,
    ref: str,
    decision: str,
    reason: str = "",
    ground: str | None = None,
    conditions: list[str] | None = None,
) -> CoopRequest:
    """Record a decision on an incoming request and send it to the requesting node."""
    principal.require(*DECIDE_ROLES)
    if decision not in DECISIONS:
        raise InvalidInput(
            f"unknown decision {decision!r}; one of: {', '.join(DECISIONS)}", field="decision"
        )
    request = find_directed(session, ref, direction="in")
    instrument = get_instrument(node.data_dir, request.instrument)
    machine = instrument.request_type(request.type).incoming_machine
    target = _TARGETS[machine].get(decision)
    if target is None:
        raise InvalidInput(
            f"a {request.type} request is not {decision}d; decide one of: "
            f"{', '.join(_TARGETS[machine])}",
            field="decision",
        )
    reason = reason.strip()
    if decision != "grant" and not reason:
        raise InvalidInput(
            f"a decision to {decision} needs its reasons (Art. 40(24))",
            field="reason",
            article="40(24)",
        )
    article: str | None = None
    if decision == "refuse":
        if not ground:
            raise InvalidInput("a refusal names its ground", field="ground")
        article = check_ground(session, request=request, instrument=instrument, ground=ground)
    elif ground:
        raise InvalidInput("only a refusal has a ground", field="ground")
    if decision in ("refuse", "postpone") and not request.consultations:
        raise Conflict(
            f"consult the requesting state before you {decision} {request.reference} "
            "(Art. 40(26)-(27)): watchkeeper request consult",
            reason="not-consulted",
            article="40(26)",
        )
    kept = [text.strip() for text in conditions or [] if text.strip()]
    if decision == "conditional" and not kept:
        raise InvalidInput("a conditional grant states its conditions", field="conditions")
    record: dict[str, Any] = {
        "decision": decision,
        "ground": ground,
        "article": article,
        "reason": reason,
        "conditions": kept,
        "by": principal.actor,
        "at": node.clock.now().isoformat(),
    }
    request.decision = record
    if kept:
        request.conditions = [*request.conditions, *kept]
    transition(  # the decision message below tells the requesting node; no status message
        session,
        clock=node.clock,
        actor=principal.actor,
        request=request,
        instrument=instrument,
        to=target,
        detail={"decision": record},
    )
    tell(
        session,
        node=node,
        actor=principal.actor,
        request=request,
        kind="decision",
        body=record,
    )
    return request
