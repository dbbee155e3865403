"""The Cooperation pages: the 24/7 inbox with its clocks, who is on duty and what falls due;
the request form whose "Save and check" shows every problem with its article beside the
form; the request page with the steps its status and the viewer's roles allow, its timeline
and the printable document in four languages.

No JavaScript (the UI has none): the inbox refreshes itself every minute (meta refresh), and
"live" validation is a save that re-renders the form with the checks of the saved draft.
Every step is a form post with the session's CSRF token that redirects back (post/redirect/
get), so a reload never repeats a step. Roles are the API's (``web.api.cooperation``); the
use cases refuse, audited, a step the viewer may not take.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from watchkeeper.cooperation import (
    DECISIONS,
    LANGUAGES,
    SCREEN_CHECKS,
    CoopRequest,
    Instrument,
    acknowledge,
    advance,
    approve_request,
    check_incoming,
    consult,
    deadline_rows,
    decide,
    find_request,
    get_instrument,
    inbox_page,
    list_requests,
    new_request,
    next_states,
    on_duty,
    parse_fields,
    preserve,
    record_oral,
    renew_order,
    request_document,
    screen_request,
    send_request,
    send_results,
    shift_document,
    submit_request,
    timeline,
    update_request,
    validate_request,
    withdraw_request,
)
from watchkeeper.errors import InvalidInput, NotFound, WatchkeeperError
from watchkeeper.node import Node
from watchkeeper.security import STAFF_ROLES, Principal
from watchkeeper.web.api.cooperation import (
    ACTORS,
    READERS,
    deliver_soon,
    problems_of,
    render_document,
)
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.areas import AREAS_BY_SLUG
from watchkeeper.web.ui.pages import back_to, denied, form_guard, guard, page

router = APIRouter(prefix="/ui", include_in_schema=False)
Csrf = Annotated[str, Form()]
DRAFTERS = ("poc-officer", "central-authority")
REVIEWERS = ("legal-reviewer",)
DECIDERS = (*DRAFTERS, "legal-reviewer")
SOON_DAYS = 7
WARN_SECONDS = 15 * 60
"""An acknowledgement clock under this is shown as urgent."""
MAX_TEXT = 20_000
FLAGS = ("urgent", "confidential", "no_user_notice")


SOON_ROWS = 20
"""Deadlines the inbox page shows (the soonest; `request deadlines` lists them all)."""


def _area() -> Any:
    return AREAS_BY_SLUG["cooperation"]


def _clock_view(row: dict[str, Any]) -> dict[str, str]:
    """The acknowledgement clock as text and a colour class."""
    clock = row["clock"]
    left = clock["seconds_left"]
    if clock["state"] == "overdue":
        return {"text": f"OVERDUE by {(-left) // 60 + 1} min", "css": "badge sev-critical"}
    if clock["state"] == "running":
        css = "badge sev-high" if left < WARN_SECONDS else "badge sev-low"
        return {"text": f"{left // 60} min left", "css": css}
    return {"text": clock["state"], "css": "notice"}


@router.get("/cooperation")
def inbox_view(request: Request, offset: int = 0, message: str | None = None) -> Response:
    """The 24/7 inbox: waiting requests first with their clocks, then those in hand; who is
    on duty; deadlines in the coming days; the latest outgoing requests."""
    login = guard(request, *STAFF_ROLES)
    if isinstance(login, Response):
        return login
    if not login.principal.has(*READERS):  # the area's description, as for any area
        return page(request, "area.html", login, area=_area())
    node = node_of(request)
    now = node.clock.now()
    with node.database.reader() as session:
        inbox = inbox_page(session, now=now, limit=50, offset=max(offset, 0))
        duty = [shift_document(shift) for shift in on_duty(session, at=now)]
        soon = deadline_rows(
            session,
            now=now,
            horizon_days=SOON_DAYS,
            unanswered_days=node.settings.cooperation_unanswered_days,
            limit=SOON_ROWS,
        )
        outgoing = [request_document(r) for r in list_requests(session, direction="out", limit=20)]
    rows = [{**row, "view": _clock_view(row)} for row in inbox["requests"]]
    return page(
        request,
        "cooperation_inbox.html",
        login,
        area=_area(),
        inbox=inbox,
        waiting=[row for row in rows if row["acked_at"] is None],
        in_hand=[row for row in rows if row["acked_at"] is not None],
        duty=duty,
        soon=soon,
        outgoing=outgoing,
        can_ack=login.principal.has(*DRAFTERS),
        can_draft=login.principal.has(*DRAFTERS),
        message=message,
    )


@router.post("/cooperation/requests/{ref}/ack")
def inbox_ack(request: Request, ref: str, background: BackgroundTasks, csrf: Csrf = "") -> Response:
    """Acknowledge an incoming request from the inbox (its clock stops)."""
    login = form_guard(request, csrf, *DRAFTERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.transaction() as session:
            done = acknowledge(session, node=node, principal=login.principal, ref=ref)
            reference = done.reference
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    background.add_task(deliver_soon, node)
    return back_to("/ui/cooperation", f"{reference} acknowledged")


# -- the request form ---------------------------------------------------------------------


def _identifier_lines(text: str) -> list[dict[str, Any]]:
    """Identifiers written one a line as ``kind value [timestamp [timezone]]``."""
    found: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise InvalidInput(
                f"identifiers line {number}: write 'kind value timestamp' "
                "(e.g. ip 203.0.113.7 2026-01-03T02:14:00+00:00)",
                field="identifiers",
                line=number,
            )
        entry: dict[str, Any] = {"kind": parts[0].lower(), "value": parts[1]}
        if len(parts) > 2:
            entry["timestamp"] = parts[2]
        if len(parts) > 3:
            entry["timezone"] = " ".join(parts[3:])
        found.append(entry)
    return found


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_TEXT] if isinstance(value, str) else ""


def form_values(form: FormData, *, rule_contents: list[str], period: bool) -> dict[str, Any]:
    """The request fields a form post carries (the shape of ``RequestFields``)."""
    values: dict[str, Any] = {flag: form.get(flag) == "on" for flag in FLAGS}
    if _text(form, "language"):
        values["language"] = _text(form, "language")
    values["contents"] = {key: _text(form, f"content-{key}") for key in rule_contents}
    penalty = _text(form, "max_penalty_years")
    try:
        years = float(penalty) if penalty else None
    except ValueError:
        raise InvalidInput(
            f"maximum penalty: {penalty!r} is not a number of years", field="max_penalty_years"
        ) from None
    values["offence"] = {
        "basis": _text(form, "offence_basis"),
        "max_penalty_years": years,
        "summary": _text(form, "offence_summary"),
    }
    identifiers = _identifier_lines(_text(form, "identifiers"))
    category = _text(form, "category")
    if category or identifiers:
        entry: dict[str, Any] = {"category": category or "other-stored", "identifiers": identifiers}
        start, end = _text(form, "data_from"), _text(form, "data_until")
        if start or end:
            entry["time_range"] = {"from": start or None, "until": end or None}
        values["data"] = [entry]
    else:
        values["data"] = []
    if period:
        values["period"] = {
            "from": _text(form, "period_from") or None,
            "until": _text(form, "period_until") or None,
            "justification": _text(form, "justification"),
        }
    return values


def _prefill(document: dict[str, Any]) -> dict[str, Any]:
    """The form's fields from a saved request."""
    data = (document.get("data") or [{}])[0]
    lines = [
        " ".join(
            str(part)
            for part in (i.get("kind"), i.get("value"), i.get("timestamp"), i.get("timezone"))
            if part
        )
        for i in data.get("identifiers") or []
    ]
    time_range = data.get("time_range") or {}
    period = document.get("period") or {}
    offence = document.get("offence") or {}
    return {
        **{flag: bool(document.get(flag)) for flag in FLAGS},
        "language": document.get("language") or "",
        "contents": document.get("contents") or {},
        "offence_basis": offence.get("basis") or "",
        "max_penalty_years": offence.get("max_penalty_years") or "",
        "offence_summary": offence.get("summary") or "",
        "category": data.get("category") or "",
        "identifiers": "\n".join(lines),
        "data_from": time_range.get("from") or "",
        "data_until": time_range.get("until") or "",
        "period_from": period.get("from") or "",
        "period_until": period.get("until") or "",
        "justification": period.get("justification") or "",
    }


def _form_page(
    request: Request,
    login: Any,
    *,
    instrument: Instrument,
    type_key: str,
    to: str = "",
    document: dict[str, Any] | None = None,
    problems: list[dict[str, Any]] | None = None,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    message: str | None = None,
    status: int = 200,
) -> Response:
    rule = instrument.request_type(type_key) if type_key else None
    offences = [(key, f"{key}: {o.label}") for key, o in instrument.offences.items()]
    serious = instrument.serious_crime_min_years
    offences.append(
        (
            "serious-crime",
            f"serious crime (max penalty ≥ {serious.years} years, Art. {serious.article})",
        )
    )
    return page(
        request,
        "cooperation_form.html",
        login,
        status=status,
        area=_area(),
        instrument=instrument,
        types=instrument.request_types,
        rule=rule,
        type_key=type_key,
        to=to,
        document=document,
        problems=problems,
        values=values or {"confidential": True, "contents": {}},
        offences=offences,
        categories=("subscriber", "traffic", "content", "other-stored"),
        languages=LANGUAGES,
        error=error,
        message=message,
    )


@router.get("/cooperation/new")
def new_form(request: Request, type: str = "", to: str = "") -> Response:
    """The request form; choosing a type shows its content items with their articles."""
    login = guard(request, *DRAFTERS)
    if isinstance(login, Response):
        return login
    instrument = get_instrument(node_of(request).data_dir)
    if type and type not in instrument.request_types:
        return denied(request, login, InvalidInput(f"unknown request type {type!r}"))
    return _form_page(request, login, instrument=instrument, type_key=type, to=to[:2])


@router.post("/cooperation/new")
async def new_submit(request: Request) -> Response:
    """Save a new draft, then show it with its checks."""
    form = await request.form()
    login = form_guard(request, _text(form, "csrf"), *DRAFTERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    instrument = get_instrument(node.data_dir)
    type_key, to = _text(form, "type"), _text(form, "to").upper()
    try:
        rule = instrument.request_type(type_key)
        values = form_values(
            form, rule_contents=[i.key for i in rule.contents], period=rule.period_required
        )
        fields = parse_fields(values, source="form")
        with node.database.transaction() as session:
            created = new_request(
                session,
                node=node,
                actor=login.principal.actor,
                type=type_key,
                to_state=to,
                fields=fields,
            )
            where = f"/ui/cooperation/requests/{created.id}/edit"
            reference = created.reference
    except (InvalidInput, NotFound) as exc:
        values = {**{flag: form.get(flag) == "on" for flag in FLAGS}, "contents": {}}
        return _form_page(
            request, login, instrument=instrument, type_key=type_key if type_key in
            instrument.request_types else "", to=to, values=values, error=exc.message,
            status=422,
        )  # fmt: skip
    return back_to(where, f"{reference} saved as a draft; its checks are below")


@router.get("/cooperation/requests/{ref}/edit")
def edit_form(request: Request, ref: str, message: str | None = None) -> Response:
    """The saved draft in the form, with every problem the checks find now."""
    login = guard(request, *DRAFTERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.reader() as session:
            found = find_request(session, ref)
            document = request_document(found)
            problems = problems_of(session, node, found)
    except NotFound as exc:
        return denied(request, login, exc)
    return _form_page(
        request,
        login,
        instrument=get_instrument(node.data_dir, document["instrument"]),
        type_key=document["type"],
        to=document["requested_state"],
        document=document,
        problems=problems,
        values=_prefill(document),
        message=message,
    )


@router.post("/cooperation/requests/{ref}/edit")
async def edit_submit(request: Request, ref: str) -> Response:
    """Save the draft's changes and show its checks again."""
    form = await request.form()
    login = form_guard(request, _text(form, "csrf"), *DRAFTERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.transaction() as session:
            found = find_request(session, ref)
            rule = get_instrument(node.data_dir, found.instrument).request_type(found.type)
            values = form_values(
                form, rule_contents=[i.key for i in rule.contents], period=rule.period_required
            )
            fields = parse_fields(values, source="form")
            done = update_request(
                session, node=node, actor=login.principal.actor, ref=ref, fields=fields
            )
            where, reference = f"/ui/cooperation/requests/{done.id}/edit", done.reference
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return back_to(where, f"{reference} saved; checks below")


# -- the request page ---------------------------------------------------------------------


def _actions(principal: Principal, document: dict[str, Any], machine: str) -> dict[str, Any]:
    """Which steps the page offers, from the status and the viewer's roles."""
    status, out = document["status"], document["direction"] == "out"
    drafter, reviewer = principal.has(*DRAFTERS), principal.has(*REVIEWERS)
    nexts = next_states(machine, status)
    shown: dict[str, Any] = {}
    if out:
        shown["edit"] = drafter and status in ("draft", "validated")
        shown["validate"] = drafter and status == "draft"
        shown["submit"] = drafter and status == "validated"
        shown["screen"] = reviewer and status in ("validated", "submitted")
        shown["approve"] = (
            drafter and status == "submitted" and principal.actor != document["author"]
        )
        shown["send"] = drafter and status in ("approved", "oral")
        shown["oral"] = drafter and status == "approved" and bool(document["urgent"])
        shown["withdraw"] = drafter and "withdrawn" in nexts
        return shown
    waiting = document["acked_at"] is None
    shown["ack"] = drafter and waiting
    shown["check"] = drafter and not waiting and status == "received"
    deciding = ("checked",) if machine == "preservation" else ("legal-review", "consultation")
    shown["decide"] = principal.has(*DECIDERS) and status in deciding
    shown["consult"] = principal.has(*DECIDERS) and status in (
        "checked", "completeness", "legal-review", "consultation", "postponed",
    )  # fmt: skip
    shown["preserve"] = drafter and status == "ordered"
    shown["renew"] = drafter and document["order_expires_at"] is not None and status in (
        "preserved", "partial-traffic-disclosed", "awaiting-mla", "mla-received",
        "held-pending-decision",
    )  # fmt: skip
    shown["respond"] = drafter and status == "executed"
    handled = {"checked", "completeness", "legal-review", "preserved", "withdrawn", "results-sent"}
    handled |= {"ordered", "refused", "postponed", "conditional", "partial", "consultation"}
    steps = [target for target in nexts if target not in handled]
    shown["step"] = steps if drafter and not waiting and status != "received" else []
    return shown


@router.get("/cooperation/requests/{ref}")
def request_view(request: Request, ref: str, message: str | None = None) -> Response:
    """One request: key fields, its problems, the steps allowed now, its timeline."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.reader() as session:
            found = find_request(session, ref)
            document = request_document(found, steps=timeline(session, found))
            problems = problems_of(session, node, found) if found.direction == "out" else []
    except NotFound as exc:
        return denied(request, login, exc)
    instrument = get_instrument(node.data_dir, document["instrument"])
    rule = instrument.request_type(document["type"])
    machine = "out" if document["direction"] == "out" else rule.incoming_machine
    grounds = [
        (key, instrument.refusal_grounds[key].label, instrument.refusal_grounds[key].article)
        for key in rule.refusal_grounds
        if key in instrument.refusal_grounds
    ]
    return page(
        request,
        "cooperation_request.html",
        login,
        area=_area(),
        r=document,
        rule=rule,
        problems=problems,
        actions=_actions(login.principal, document, machine),
        grounds=grounds,
        decisions=DECISIONS,
        screen_checks=SCREEN_CHECKS,
        languages=LANGUAGES,
        message=message,
    )


@router.get("/cooperation/requests/{ref}/document")
def request_printable(request: Request, ref: str, lang: str = "en") -> Response:
    """The printable request document in one of the four languages."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.reader() as session:
            document = request_document(find_request(session, ref))
        return HTMLResponse(render_document(node, document, language=lang))
    except WatchkeeperError as exc:
        return denied(request, login, exc)


Step = Callable[[Session, Node, Principal, str, FormData], CoopRequest]


def _lines(form: FormData, name: str) -> list[str]:
    return [line.strip() for line in _text(form, name).splitlines() if line.strip()]


def _days(form: FormData) -> int | None:
    text = _text(form, "days")
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"days: {text!r} is not a whole number", field="days")
    return int(text)


STEPS: dict[str, Step] = {
    "validate": lambda s, n, p, r, f: validate_request(s, node=n, principal=p, ref=r)[0],
    "submit": lambda s, n, p, r, f: submit_request(s, node=n, principal=p, ref=r),
    "approve": lambda s, n, p, r, f: approve_request(s, node=n, principal=p, ref=r),
    "send": lambda s, n, p, r, f: send_request(s, node=n, principal=p, ref=r),
    "oral": lambda s, n, p, r, f: record_oral(s, node=n, principal=p, ref=r, note=_text(f, "note")),
    "withdraw": lambda s, n, p, r, f: withdraw_request(
        s, node=n, principal=p, ref=r, reason=_text(f, "reason")
    ),
    "screen": lambda s, n, p, r, f: screen_request(
        s,
        node=n,
        principal=p,
        ref=r,
        notes=_text(f, "notes"),
        checks={name: f.get(f"check-{name}") == "on" for name in SCREEN_CHECKS},
    ),
    "check": lambda s, n, p, r, f: check_incoming(
        s, node=n, principal=p, ref=r, note=_text(f, "note")
    ),
    "consult": lambda s, n, p, r, f: consult(s, node=n, principal=p, ref=r, note=_text(f, "note")),
    "decide": lambda s, n, p, r, f: decide(
        s,
        node=n,
        principal=p,
        ref=r,
        decision=_text(f, "decision"),
        reason=_text(f, "reason"),
        ground=_text(f, "ground") or None,
        conditions=_lines(f, "conditions"),
    ),
    "preserve": lambda s, n, p, r, f: preserve(s, node=n, principal=p, ref=r, days=_days(f)),
    "renew": lambda s, n, p, r, f: renew_order(s, node=n, principal=p, ref=r, days=_days(f)),
    "step": lambda s, n, p, r, f: advance(
        s, node=n, principal=p, ref=r, to=_text(f, "to"), note=_text(f, "note")
    ),
}


@router.post("/cooperation/requests/{ref}/do/{action}")
async def request_step(
    request: Request, ref: str, action: str, background: BackgroundTasks
) -> Response:
    """One step of the request (the use case checks the status and the role)."""
    form = await request.form()
    login = form_guard(request, _text(form, "csrf"), *ACTORS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        if action == "respond":
            result = send_results(
                node=node, principal=login.principal, ref=ref,
                evidence=_lines(form, "evidence"), authority=_text(form, "authority"),
            )  # fmt: skip
            reference, where = str(result.get("reference", ref)), ref
        else:
            run = STEPS.get(action)
            if run is None:
                raise NotFound(f"no step {action!r}; steps: {', '.join(STEPS)}, respond")
            with node.database.transaction() as session:
                done = run(session, node, login.principal, ref, form)
                reference, where = done.reference, done.id
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    background.add_task(deliver_soon, node)
    return back_to(f"/ui/cooperation/requests/{where}", f"{reference}: {action} done")
