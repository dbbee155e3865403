"""An outgoing request's way out: checked, screened, approved by a second person, sent.

Sending queues a signed message in the same transaction as the "sent" step, so a request is
never marked sent without its message, nor its message left without the request; the
outbox delivers it (now, or when the partner is back), and the partner's replies move the
request on (``handlers``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.cooperation.checks import Problem, blocking, check_request
from watchkeeper.cooperation.instruments import Instrument, get_instrument
from watchkeeper.cooperation.models import CoopRequest
from watchkeeper.cooperation.requests import (
    find_directed,
    find_request,
    record_step,
    request_document,
    tell,
    transition,
)
from watchkeeper.errors import InvalidInput
from watchkeeper.node import Node
from watchkeeper.security import Principal

DRAFT_ROLES = ("poc-officer", "central-authority")
SCREEN_ROLES = ("legal-reviewer",)
APPROVE_ROLES = ("central-authority", "poc-officer")
SCREEN_CHECKS = (
    "legal-basis",
    "proportionality",
    "human-rights",
    "discrimination",
    "data-protection",
)
"""What the legal reviewer confirms (Arts 6, 24, 36, 40(22)); each needs an answer."""


def _refuse(request: CoopRequest, problems: list[Problem], what: str) -> InvalidInput:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidInput(
        f"request {request.reference} cannot be {what}: {first.message}{more}",
        reason="check",
        field=first.field,
        article=first.article,
        problems=[problem.document() for problem in problems],
    )


def _require_clean(
    session: Session,
    node: Node,
    request: CoopRequest,
    instrument: Instrument,
    what: str,
    *stages: str,
) -> None:
    """``InvalidInput`` naming the first blocking problem of ``stages`` (and how many more)."""
    found = check_request(
        session, request=request, instrument=instrument, on=node.clock.now().date()
    )
    problems = blocking(found, *stages)
    if problems:
        raise _refuse(request, problems, what)


def _outgoing(session: Session, ref: str) -> CoopRequest:
    return find_directed(session, ref, direction="out")


def _instrument(node: Node, request: CoopRequest) -> Instrument:
    return get_instrument(node.data_dir, request.instrument)


def validate_request(
    session: Session, *, node: Node, principal: Principal, ref: str
) -> tuple[CoopRequest, list[Problem]]:
    """Check a draft; with no blocking problem of the request itself it becomes validated.

    The problems are returned either way (warnings too), so the form can show them all.
    """
    principal.require(*DRAFT_ROLES)
    request = _outgoing(session, ref)
    instrument = _instrument(node, request)
    problems = check_request(
        session, request=request, instrument=instrument, on=node.clock.now().date()
    )
    if request.status == "draft" and not blocking(problems, "validate"):
        transition(
            session,
            clock=node.clock,
            actor=principal.actor,
            request=request,
            instrument=instrument,
            to="validated",
            detail={"warnings": [p.message for p in problems if p.severity == "warning"]},
        )
    return request, problems


def submit_request(session: Session, *, node: Node, principal: Principal, ref: str) -> CoopRequest:
    """Hand a validated request to the legal reviewer and the approver."""
    principal.require(*DRAFT_ROLES)
    request = _outgoing(session, ref)
    instrument = _instrument(node, request)
    _require_clean(session, node, request, instrument, "submitted", "validate")
    transition(
        session,
        clock=node.clock,
        actor=principal.actor,
        request=request,
        instrument=instrument,
        to="submitted",
    )
    return request


def screen_request(
    session: Session,
    *,
    node: Node,
    principal: Principal,
    ref: str,
    checks: dict[str, bool],
    notes: str = "",
) -> CoopRequest:
    """The legal reviewer's sign-off of the human-rights and data-protection screen.

    Every check must be answered; a "no" is a finding that stops the request (it stays
    submitted and the drafter sees why) rather than a sign-off.
    """
    principal.require(*SCREEN_ROLES)
    request = _outgoing(session, ref)
    if request.status not in ("validated", "submitted"):
        raise InvalidInput(
            f"request {request.reference} is {request.status}; the screen is done on a "
            "validated or submitted request",
            reason="status",
        )
    missing = [name for name in SCREEN_CHECKS if name not in checks]
    if missing:
        raise InvalidInput(
            f"screen incomplete: answer {', '.join(missing)}", field="checks", missing=missing
        )
    failed = [name for name in SCREEN_CHECKS if not checks[name]]
    if failed and not notes.strip():
        raise InvalidInput(
            f"a screen finding ({', '.join(failed)}) needs notes saying why", field="notes"
        )
    now = node.clock.now()
    request.screen = {
        "by": principal.actor if not failed else None,
        "at": now.isoformat(),
        "checks": {name: bool(checks[name]) for name in SCREEN_CHECKS},
        "notes": notes.strip(),
        "findings": failed,
    }
    record_step(
        session,
        clock=node.clock,
        actor=principal.actor,
        request=request,
        action="screened",
        detail={"findings": failed, "notes": notes.strip()},
    )
    return request


def approve_request(session: Session, *, node: Node, principal: Principal, ref: str) -> CoopRequest:
    """The second person's approval (never the author), after the legal screen."""
    principal.require(*APPROVE_ROLES)
    request = _outgoing(session, ref)
    if principal.actor == request.author:
        raise InvalidInput(
            f"{principal.actor} wrote request {request.reference}; another person must "
            "approve it (four-eyes rule)",
            reason="four-eyes",
            field="approver",
        )
    if not (request.screen or {}).get("by"):
        raise InvalidInput(
            f"request {request.reference} has no signed-off legal screen yet "
            "(Arts 6, 24, 36, 40(22)); a legal reviewer runs: watchkeeper request screen",
            reason="screen",
            article="24",
        )
    instrument = _instrument(node, request)
    request.approver = principal.actor
    transition(
        session,
        clock=node.clock,
        actor=principal.actor,
        request=request,
        instrument=instrument,
        to="approved",
    )
    return request


def request_message(request: CoopRequest, *, parent_thread: str | None) -> dict[str, Any]:
    """The body of the "request" message: what the partner needs to register it."""
    document = request_document(request)
    keep = [
        *("reference", "type", "instrument", "requesting_state", "requested_state"),
        *("channel", "language", "urgent", "contents", "offence", "data", "period"),
        *("confidential", "no_user_notice", "use_limits", "conditions"),
    ]
    body = {key: document[key] for key in keep}
    body["parent_thread"] = parent_thread
    body["evidence_ids"] = []  # our vault ids mean nothing to the partner
    return body


def send_request(session: Session, *, node: Node, principal: Principal, ref: str) -> CoopRequest:
    """Send an approved request: every check again, then the signed message is queued."""
    principal.require(*APPROVE_ROLES)
    request = _outgoing(session, ref)
    instrument = _instrument(node, request)
    _require_clean(session, node, request, instrument, "sent", "validate", "approve")
    if not request.peer:
        raise InvalidInput(
            f"no partner node is registered for {request.requested_state}; register one "
            "(watchkeeper peer add) or export the request as a signed file "
            "(watchkeeper request export)",
            reason="no-peer",
            field="peer",
        )
    parent_thread = None
    if request.parent_id:
        parent = find_request(session, request.parent_id)
        parent_thread = parent.thread
    confirms = request.status == "oral"
    transition(
        session,
        clock=node.clock,
        actor=principal.actor,
        request=request,
        instrument=instrument,
        to="sent",
        detail={"peer": request.peer, **({"confirms_oral": True} if confirms else {})},
    )
    now = node.clock.now()
    request.confirm_due_at = None
    if request.sent_at is None:
        request.sent_at = now
    if request.type == "preservation" and request.follow_up_due_at is None:
        days = instrument.deadlines["mla-follow-up"].days
        request.follow_up_due_at = now + timedelta(days=days)
    tell(
        session,
        node=node,
        actor=principal.actor,
        request=request,
        kind="request",
        body=request_message(request, parent_thread=parent_thread),
    )
    return request


def record_oral(
    session: Session, *, node: Node, principal: Principal, ref: str, note: str
) -> CoopRequest:
    """Record that an approved urgent request was made orally (a call between points of
    contact, where the two states agree); its written confirmation, sent with
    :func:`send_request`, is then due "forthwith" (the pack's service level, Art 40(14))."""
    principal.require(*APPROVE_ROLES)
    if not note.strip():
        raise InvalidInput("say who was called, when and on which line", field="note")
    request = _outgoing(session, ref)
    if not request.urgent:
        raise InvalidInput(
            f"{request.reference} is not urgent; only urgent requests may be made orally "
            "(Art. 40(14))",
            reason="not-urgent",
            article="40(14)",
        )
    instrument = _instrument(node, request)
    forthwith = instrument.service_levels["forthwith"]
    transition(
        session,
        clock=node.clock,
        actor=principal.actor,
        request=request,
        instrument=instrument,
        to="oral",
        detail={"note": note.strip(), "article": forthwith.article},
    )
    now = node.clock.now()
    request.sent_at = now  # the partner has it from now; the answer clock runs
    request.confirm_due_at = now + timedelta(minutes=forthwith.minutes)
    if request.type == "preservation":
        days = instrument.deadlines["mla-follow-up"].days
        request.follow_up_due_at = now + timedelta(days=days)
    return request


def withdraw_request(
    session: Session, *, node: Node, principal: Principal, ref: str, reason: str
) -> CoopRequest:
    """Withdraw an outgoing request (Art 40(25)); a sent one tells the partner."""
    principal.require(*APPROVE_ROLES)
    if not reason.strip():
        raise InvalidInput("say why the request is withdrawn", field="reason")
    request = _outgoing(session, ref)
    was_sent = request.sent_at is not None
    transition(
        session,
        clock=node.clock,
        actor=principal.actor,
        request=request,
        instrument=_instrument(node, request),
        to="withdrawn",
        detail={"reason": reason.strip()},
    )
    if was_sent:
        tell(
            session,
            node=node,
            actor=principal.actor,
            request=request,
            kind="withdraw",
            body={"reason": reason.strip()},
        )
    return request
