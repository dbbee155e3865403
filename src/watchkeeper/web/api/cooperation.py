"""International cooperation over the API: requests (outgoing and incoming) with every step of
their state machines, the 24/7 inbox and the deadlines (the roster, the states registry, the
packs and the outbox: ``cooperation_registry``).

Staff only, never a partner node: partners talk to ``POST /cooperation/messages`` with signed
messages (``cooperation_messages``), not with tokens. Auditors read and change nothing. The
use cases check the finer roles themselves (a legal reviewer screens, a second officer
approves, the person on duty acknowledges), so a route admits every role that takes part and
the use case refuses, audited, whoever may not take that step.

Sending commits the "sent" step with its signed message in the outbox; the delivery to the
partner then runs after the response (``BackgroundTasks``), so the officer never waits for a
partner that is slow or offline: the outbox delivers later, and ``GET /cooperation/outbox``
shows what is still waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from watchkeeper.cooperation import (
    CoopRequest,
    RequestFields,
    acknowledge,
    advance,
    approve_request,
    check_incoming,
    check_request,
    consult,
    deadline_rows,
    decide,
    deliver_due,
    find_request,
    get_instrument,
    inbox_page,
    list_requests,
    new_request,
    preserve,
    record_oral,
    render_request_html,
    render_request_pdf,
    renew_order,
    request_document,
    screen_request,
    send_request,
    send_results,
    submit_request,
    timeline,
    update_request,
    validate_request,
    withdraw_request,
)
from watchkeeper.node import Node
from watchkeeper.security import Principal
from watchkeeper.web.deps import NodeDep, require

router = APIRouter(prefix="/cooperation", tags=["cooperation"])
ACTORS = ("admin", "poc-officer", "central-authority", "legal-reviewer")
READERS = (*ACTORS, "auditor")
Reader = Annotated[Principal, Depends(require(*READERS))]
Actor = Annotated[Principal, Depends(require(*ACTORS))]
Drafter = Annotated[Principal, Depends(require("admin", "poc-officer", "central-authority"))]
DELIVER_LIMIT = 20
"""Messages one background delivery after a send posts at most (the worker does the rest)."""
log = logging.getLogger(__name__)
Text = Annotated[str, Field(max_length=20_000)]


class NewRequestIn(RequestFields):
    """A new outgoing request: its type, the requested state and the fields of the form."""

    type: str = Field(min_length=1, max_length=60)
    to: str = Field(min_length=2, max_length=2, description="ISO 3166 code of the state.")
    instrument: str | None = Field(None, max_length=60)


class ReasonIn(BaseModel):
    """Why (a withdrawal)."""

    reason: str = Field(min_length=1, max_length=4000)


class NoteIn(BaseModel):
    """A note kept with the step."""

    note: str = Field("", max_length=4000)


class ScreenIn(BaseModel):
    """The legal reviewer's answer to each screen check, and notes (needed for a finding)."""

    checks: dict[str, bool]
    notes: str = Field("", max_length=20_000)


class PreserveIn(BaseModel):
    """How long to preserve (default: the instrument's minimum) and the items preserved."""

    days: int | None = Field(None, ge=1, le=3650)
    evidence_ids: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=1000
    )


class RenewIn(BaseModel):
    """Days of the renewed domestic order (default: its maximum)."""

    days: int | None = Field(None, ge=1, le=3650)


class DecideIn(BaseModel):
    """A decision on an incoming request: refusal ground, reasons, conditions."""

    decision: str = Field(min_length=1, max_length=20)
    reason: Text = ""
    ground: str | None = Field(None, max_length=60)
    conditions: list[Text] = Field(default_factory=list, max_length=50)


class RespondIn(BaseModel):
    """The results of an executed request: evidence items sealed for the requesting node."""

    evidence: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        min_length=1, max_length=10_000
    )
    authority: str = Field(min_length=1, max_length=300)


class StepIn(BaseModel):
    """Any other step of an incoming request that its machine allows."""

    to: str = Field(min_length=1, max_length=40)
    note: str = Field("", max_length=4000)


def full_document(session: Session, request: CoopRequest) -> dict[str, Any]:
    """The request with its timeline."""
    return request_document(request, steps=timeline(session, request))


def problems_of(session: Session, node: Node, request: CoopRequest) -> list[dict[str, Any]]:
    """Every problem of the request now (changes nothing)."""
    instrument = get_instrument(node.data_dir, request.instrument)
    found = check_request(
        session, request=request, instrument=instrument, on=node.clock.now().date()
    )
    return [problem.document() for problem in found]


def render_document(node: Node, document: dict[str, Any], *, language: str) -> str:
    """The printable request in ``language``, each content item with its article."""
    rule = get_instrument(node.data_dir, document["instrument"]).request_type(document["type"])
    spec = [(item.key, item.article, item.label) for item in rule.contents]
    return render_request_html(document, language=language, contents_spec=spec)


def deliver_soon(node: Node) -> None:
    """Post what the outbox holds now; a partner that is down is retried by the worker."""
    try:
        report = deliver_due(node, limit=DELIVER_LIMIT)
    except Exception as exc:  # a background task has nobody to answer; the outbox keeps it
        log.warning("cooperation delivery after send failed: %s", exc)
        return
    if report.failed:
        log.info("cooperation delivery: %d delivered, %d failed", report.delivered, report.failed)


def _step(
    node: Node, principal: Principal, use_case: Callable[..., CoopRequest], ref: str, **fields: Any
) -> dict[str, Any]:
    """Run one step of a request as ``principal`` in a transaction of its own; the request
    with its timeline afterwards. Every step route below differs only by these."""
    with node.database.transaction() as session:
        request = use_case(session, node=node, principal=principal, ref=ref, **fields)
        return full_document(session, request)


@router.get("/requests")
def requests_list(
    node: NodeDep,
    principal: Reader,
    direction: str | None = Query(None, pattern="^(in|out)$"),
    status: str | None = Query(None, max_length=40),
    type: str | None = Query(None, max_length=60),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """A page of requests, newest first, filtered by direction, status and type."""
    with node.database.reader() as session:
        rows = list_requests(
            session, direction=direction, status=status, type=type, limit=limit, offset=offset
        )
        return {
            "limit": limit,
            "offset": offset,
            "requests": [request_document(row) for row in rows],
        }


@router.post("/requests", status_code=201)
def request_create(node: NodeDep, principal: Drafter, body: NewRequestIn) -> JSONResponse:
    """Draft an outgoing request of ``type`` to the state ``to``."""
    values = body.model_dump(by_alias=True, exclude_unset=True)
    for key in ("type", "to", "instrument"):
        values.pop(key, None)
    fields = RequestFields.model_validate(values)
    with node.database.transaction() as session:
        request = new_request(
            session,
            node=node,
            actor=principal.actor,
            type=body.type,
            to_state=body.to,
            instrument_id=body.instrument,
            fields=fields,
        )
        document = full_document(session, request)
    return JSONResponse(document, status_code=201)


@router.get("/requests/{ref}")
def request_get(node: NodeDep, principal: Reader, ref: str) -> dict[str, Any]:
    """One request (by id or reference) with its timeline."""
    with node.database.reader() as session:
        return full_document(session, find_request(session, ref))


@router.patch("/requests/{ref}")
def request_patch(
    node: NodeDep, principal: Drafter, ref: str, body: RequestFields
) -> dict[str, Any]:
    """Change a draft (a validated one goes back to draft, to be checked again)."""
    with node.database.transaction() as session:
        request = update_request(session, node=node, actor=principal.actor, ref=ref, fields=body)
        return full_document(session, request)


@router.get("/requests/{ref}/check")
def request_check(node: NodeDep, principal: Reader, ref: str) -> dict[str, Any]:
    """Every problem of the request as it is, each naming its article; changes nothing."""
    with node.database.reader() as session:
        request = find_request(session, ref)
        problems = problems_of(session, node, request)
    blocking = [p for p in problems if p["severity"] == "error"]
    return {"reference": request.reference, "ok": not blocking, "problems": problems}


@router.post("/requests/{ref}/validate")
def request_validate(node: NodeDep, principal: Actor, ref: str) -> dict[str, Any]:
    """Check a draft; validated when nothing blocks. The problems come back either way."""
    with node.database.transaction() as session:
        request, problems = validate_request(session, node=node, principal=principal, ref=ref)
        document = full_document(session, request)
    document["problems"] = [problem.document() for problem in problems]
    return document


@router.post("/requests/{ref}/submit")
def request_submit(node: NodeDep, principal: Actor, ref: str) -> dict[str, Any]:
    """Hand a validated request to the legal reviewer and the approver."""
    return _step(node, principal, submit_request, ref)


@router.post("/requests/{ref}/screen")
def request_screen(node: NodeDep, principal: Actor, ref: str, body: ScreenIn) -> dict[str, Any]:
    """The legal reviewer's human-rights and data-protection screen (every check answered:
    ``SCREEN_CHECKS``)."""
    return _step(node, principal, screen_request, ref, checks=body.checks, notes=body.notes)


@router.post("/requests/{ref}/approve")
def request_approve(node: NodeDep, principal: Actor, ref: str) -> dict[str, Any]:
    """Approval by a second person (never the author), after the legal screen."""
    return _step(node, principal, approve_request, ref)


@router.post("/requests/{ref}/send")
def request_send(
    node: NodeDep, principal: Actor, ref: str, background: BackgroundTasks
) -> dict[str, Any]:
    """Every check again, then the signed message is queued; delivery starts after the
    response (``GET /cooperation/outbox`` shows what waits)."""
    document = _step(node, principal, send_request, ref)
    background.add_task(deliver_soon, node)
    return document


@router.post("/requests/{ref}/oral")
def request_oral(node: NodeDep, principal: Actor, ref: str, body: NoteIn) -> dict[str, Any]:
    """Record that an approved urgent request was made orally; its written confirmation
    (``send``) is then due forthwith (Art 40(14))."""
    return _step(node, principal, record_oral, ref, note=body.note)


@router.post("/requests/{ref}/withdraw")
def request_withdraw(node: NodeDep, principal: Actor, ref: str, body: ReasonIn) -> dict[str, Any]:
    """Withdraw an outgoing request; a sent one tells the partner (Art 40(25))."""
    return _step(node, principal, withdraw_request, ref, reason=body.reason)


@router.post("/requests/{ref}/ack")
def request_ack(
    node: NodeDep, principal: Actor, ref: str, background: BackgroundTasks
) -> dict[str, Any]:
    """Acknowledge an incoming request (stops its clock); the requesting node is told."""
    document = _step(node, principal, acknowledge, ref)
    background.add_task(deliver_soon, node)
    return document


@router.post("/requests/{ref}/check")
def request_check_incoming(
    node: NodeDep, principal: Actor, ref: str, body: NoteIn | None = None
) -> dict[str, Any]:
    """Record that an incoming request was checked for its required contents."""
    return _step(node, principal, check_incoming, ref, note=body.note if body else "")


@router.post("/requests/{ref}/preserve")
def request_preserve(
    node: NodeDep,
    principal: Actor,
    ref: str,
    background: BackgroundTasks,
    body: PreserveIn | None = None,
) -> dict[str, Any]:
    """Data preserved: held at least the instrument's minimum (Art 42)."""
    body = body or PreserveIn()
    document = _step(
        node, principal, preserve, ref, days=body.days, evidence_ids=body.evidence_ids or None
    )
    background.add_task(deliver_soon, node)
    return document


@router.post("/requests/{ref}/renew")
def request_renew(
    node: NodeDep, principal: Actor, ref: str, body: RenewIn | None = None
) -> dict[str, Any]:
    """Renew the domestic preservation order (Art 25)."""
    return _step(node, principal, renew_order, ref, days=body.days if body else None)


@router.post("/requests/{ref}/consult")
def request_consult(
    node: NodeDep, principal: Actor, ref: str, body: NoteIn, background: BackgroundTasks
) -> dict[str, Any]:
    """Consult the requesting state (before refusing or postponing, Art 40(26)-(27))."""
    document = _step(node, principal, consult, ref, note=body.note)
    background.add_task(deliver_soon, node)
    return document


@router.post("/requests/{ref}/decide")
def request_decide(
    node: NodeDep, principal: Actor, ref: str, body: DecideIn, background: BackgroundTasks
) -> dict[str, Any]:
    """Decide an incoming request; a refusal names a ground the pack allows for its type
    (422 naming the article otherwise: bank secrecy is never one)."""
    document = _step(
        node,
        principal,
        decide,
        ref,
        decision=body.decision,
        reason=body.reason,
        ground=body.ground,
        conditions=body.conditions,
    )
    background.add_task(deliver_soon, node)
    return document


@router.post("/requests/{ref}/respond")
def request_respond(
    node: NodeDep, principal: Actor, ref: str, body: RespondIn, background: BackgroundTasks
) -> dict[str, Any]:
    """Answer an executed incoming request with a sealed package of evidence items."""
    result = send_results(
        node=node, principal=principal, ref=ref, evidence=body.evidence, authority=body.authority
    )
    background.add_task(deliver_soon, node)
    return result


@router.post("/requests/{ref}/step")
def request_step(
    node: NodeDep, principal: Actor, ref: str, body: StepIn, background: BackgroundTasks
) -> dict[str, Any]:
    """Another step of an incoming request (ineffective notice, execution, release...)."""
    document = _step(node, principal, advance, ref, to=body.to, note=body.note)
    background.add_task(deliver_soon, node)
    return document


@router.get("/requests/{ref}/document", response_model=None)
def request_printable(
    node: NodeDep,
    principal: Reader,
    ref: str,
    lang: str = Query("en", pattern="^(en|fr|es|ar)$"),
    format: str = Query("html", pattern="^(html|pdf)$"),
) -> Response:
    """The printable request (HTML, or PDF where WeasyPrint is installed: 422 otherwise)."""
    with node.database.reader() as session:
        document = request_document(find_request(session, ref))
    html = render_document(node, document, language=lang)
    if format == "pdf":
        name = f"{document['reference']}-{lang}.pdf"
        return Response(
            render_request_pdf(html),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return HTMLResponse(html)


@router.get("/inbox")
def inbox(
    node: NodeDep,
    principal: Reader,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    closed: bool = Query(False, description="Include closed and withdrawn requests."),
) -> dict[str, Any]:
    """The 24/7 inbox: unacknowledged requests by due time (with their clocks), then the
    others."""
    with node.database.reader() as session:
        return inbox_page(
            session, now=node.clock.now(), limit=limit, offset=offset, include_closed=closed
        )


@router.get("/deadlines")
def deadlines(
    node: NodeDep,
    principal: Reader,
    days: int = Query(30, ge=0, le=3650),
    limit: int = Query(500, ge=1, le=10000),
) -> dict[str, Any]:
    """Open requests with a deadline passed or within ``days``, soonest first (``limit``)."""
    with node.database.reader() as session:
        rows = deadline_rows(
            session,
            now=node.clock.now(),
            horizon_days=days,
            unanswered_days=node.settings.cooperation_unanswered_days,
            limit=limit,
        )
    return {"deadlines": rows}
