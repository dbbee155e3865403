"""The Response pages for cases: the board (a column per status, with counts and filters), one
case (details, timeline, tasks, observables with their intelligence, alerts, notes, links)
with the forms that change it, and the "new case" form.

Forms post with the session's CSRF token and answer with a redirect (post/redirect/get);
auditors and points of contact see everything and find no form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from watchkeeper.detect.alert_views import max_tlp_for
from watchkeeper.errors import InvalidInput, WatchkeeperError
from watchkeeper.respond.case_observables import CASE_KINDS
from watchkeeper.respond.case_templates import load_templates
from watchkeeper.respond.cases import (
    DISPOSITIONS,
    SEVERITIES,
    STATUSES,
    add_note,
    add_observable,
    add_task,
    assign_case,
    case_counts,
    case_view,
    close_case,
    link_cases,
    list_cases,
    merge_alerts,
    open_case,
    set_status,
    update_task,
)
from watchkeeper.respond.models import TASK_STATUSES
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.areas import AREAS_BY_SLUG
from watchkeeper.web.ui.pages import back_to, denied, form_guard, guard, page

router = APIRouter(prefix="/ui", include_in_schema=False)
READERS = ("admin", "analyst", "responder", "poc-officer", "auditor")
CHANGERS = ("admin", "analyst", "responder")
PER_COLUMN = 50
Csrf = Annotated[str, Form()]
Text = Annotated[str, Form()]


@router.get("/cases")
def board_page(
    request: Request,
    severity: str = "",
    assignee: str = "",
    campaign: str = "",
    q: str = "",
    message: str | None = None,
) -> Response:
    """The cases board: one column per status, newest change first, with the filters."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    max_tlp = max_tlp_for(login.principal)
    error = None
    columns: dict[str, dict[str, Any]] = {}
    with node.database.reader() as session:
        for status in STATUSES:
            try:
                columns[status] = list_cases(
                    session,
                    status=[status],
                    severity=[severity] if severity else None,
                    assignee=assignee[:200] or None,
                    campaign=campaign[:200] or None,
                    text=q[:500] or None,
                    limit=PER_COLUMN,
                    max_tlp=max_tlp,
                )
            except InvalidInput as exc:
                error = exc.message
                columns[status] = {"cases": [], "total": 0}
        counts = case_counts(session, max_tlp=max_tlp)
    return page(
        request,
        "cases.html",
        login,
        area=AREAS_BY_SLUG["respond"],
        columns=columns,
        counts=counts,
        filters={"severity": severity, "assignee": assignee, "campaign": campaign, "q": q},
        severities=SEVERITIES,
        error=error,
        message=message,
        can_change=login.principal.has(*CHANGERS),
    )


@router.get("/cases/new")
def new_case_page(request: Request, alert_ids: str = "") -> Response:
    """The form that opens a case (alert ids may be given in the address, one per line)."""
    login = guard(request, *CHANGERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        templates = list(load_templates(data_dir=node.data_dir).values())
    except InvalidInput as exc:
        return denied(request, login, exc)
    return page(
        request,
        "case_new.html",
        login,
        area=AREAS_BY_SLUG["respond"],
        templates=templates,
        severities=SEVERITIES,
        alert_ids=alert_ids[:20_000],
    )


@router.post("/cases/new")
def new_case_submit(
    request: Request,
    csrf: Csrf = "",
    title: Text = "",
    severity: Text = "",
    tlp: Text = "",
    template: Text = "",
    description: Text = "",
    alert_ids: Text = "",
    parent_id: Text = "",
    campaign: Text = "",
) -> Response:
    """Open the case and show it."""
    login = form_guard(request, csrf, *CHANGERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.transaction() as session:
            opened = open_case(
                session,
                clock=node.clock,
                actor=login.principal.actor,
                title=title,
                severity=severity or None,
                tlp=tlp or None,
                description=description,
                template=template or None,
                alert_ids=alert_ids.split(),
                parent_id=parent_id.strip() or None,
                campaign=campaign.strip() or None,
                data_dir=node.data_dir,
            )
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return _back(opened["id"], f"case {opened['number']} opened")


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: str, message: str | None = None) -> Response:
    """One case with everything known about it and the forms that move it on."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.reader() as session:
            view = case_view(session, case_id=case_id, max_tlp=max_tlp_for(login.principal))
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return page(
        request,
        "case.html",
        login,
        area=AREAS_BY_SLUG["respond"],
        view=view,
        case=view["case"],
        dispositions=DISPOSITIONS,
        kinds=CASE_KINDS,
        task_statuses=TASK_STATUSES,
        message=message,
        can_change=login.principal.has(*CHANGERS),
    )


def _back(case_id: str, message: str) -> RedirectResponse:
    return back_to(f"/ui/cases/{quote(case_id, safe='')}", message)


def _change(
    request: Request, case_id: str, csrf: str, act: Callable[[Session, str], str]
) -> Response:
    """Check the session, CSRF token and role, run ``act(session, actor)`` in a transaction
    and redirect to the case with the message it returns."""
    login = form_guard(request, csrf, *CHANGERS)
    if isinstance(login, Response):
        return login
    try:
        with node_of(request).database.transaction() as session:
            said = act(session, login.principal.actor)
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return _back(case_id, said)


@router.post("/cases/{case_id}/status")
def status_submit(
    request: Request, case_id: str, csrf: Csrf = "", status: Text = "", reason: Text = ""
) -> Response:
    """Move the case to another status."""
    clock = node_of(request).clock

    def act(session: Session, actor: str) -> str:
        done = set_status(
            session,
            clock=clock,
            actor=actor,
            case_id=case_id,
            status=status,
            reason=reason.strip() or None,
        )
        return f"status set to {done['status']}"

    return _change(request, case_id, csrf, act)


@router.post("/cases/{case_id}/assign")
def assign_submit(request: Request, case_id: str, csrf: Csrf = "", assignee: Text = "") -> Response:
    """Give the case to someone (empty: nobody)."""
    clock = node_of(request).clock

    def act(session: Session, actor: str) -> str:
        done = assign_case(session, clock=clock, actor=actor, case_id=case_id, assignee=assignee)
        return f"assigned to {done['assignee'] or 'nobody'}"

    return _change(request, case_id, csrf, act)


@router.post("/cases/{case_id}/close")
def close_submit(
    request: Request, case_id: str, csrf: Csrf = "", disposition: Text = "", reason: Text = ""
) -> Response:
    """Close the case with a disposition and a reason."""
    clock = node_of(request).clock

    def act(session: Session, actor: str) -> str:
        done = close_case(
            session,
            clock=clock,
            actor=actor,
            case_id=case_id,
            disposition=disposition,
            reason=reason,
        )
        fed = done["false_positive"]
        extra = f"; {len(fed['indicators'])} indicator(s) reported as false positive" if fed else ""
        return f"closed as {done['disposition']}{extra}"

    return _change(request, case_id, csrf, act)


@router.post("/cases/{case_id}/notes")
def note_submit(request: Request, case_id: str, csrf: Csrf = "", text: Text = "") -> Response:
    """Add a note."""
    clock = node_of(request).clock

    def act(session: Session, actor: str) -> str:
        add_note(session, clock=clock, actor=actor, case_id=case_id, text=text)
        return "note added"

    return _change(request, case_id, csrf, act)


@router.post("/cases/{case_id}/tasks")
def task_submit(
    request: Request,
    case_id: str,
    csrf: Csrf = "",
    title: Text = "",
    description: Text = "",
    mandatory: Text = "",
) -> Response:
    """Add a task."""
    clock = node_of(request).clock

    def act(session: Session, actor: str) -> str:
        add_task(
            session,
            clock=clock,
            actor=actor,
            case_id=case_id,
            title=title,
            description=description,
            mandatory=mandatory == "on",
        )
        return f"task added: {title.strip()}"

    return _change(request, case_id, csrf, act)


@router.post("/cases/{case_id}/tasks/{task_id}")
def task_status_submit(
    request: Request, case_id: str, task_id: str, csrf: Csrf = "", status: Text = ""
) -> Response:
    """Start, complete or cancel a task."""
    clock = node_of(request).clock

    def act(session: Session, actor: str) -> str:
        done = update_task(
            session, clock=clock, actor=actor, case_id=case_id, task_id=task_id, status=status
        )
        return f"task {done['title']}: {done['status']}"

    return _change(request, case_id, csrf, act)


@router.post("/cases/{case_id}/observables")
def observable_submit(
    request: Request,
    case_id: str,
    csrf: Csrf = "",
    kind: Text = "",
    value: Text = "",
    ioc: Text = "",
    note: Text = "",
) -> Response:
    """Add an observable; the message says how many intelligence objects carry it."""
    clock = node_of(request).clock

    def act(session: Session, actor: str) -> str:
        done = add_observable(
            session,
            clock=clock,
            actor=actor,
            case_id=case_id,
            kind=kind,
            value=value,
            ioc=ioc == "on",
            note=note,
        )
        shown = done["observable"]
        state = "added" if done["created"] else "already in the case"
        return f"{shown['kind']} {shown['value']} {state}; known to intel: {len(done['intel'])}"

    return _change(request, case_id, csrf, act)


@router.post("/cases/{case_id}/alerts")
def merge_submit(request: Request, case_id: str, csrf: Csrf = "", alert_ids: Text = "") -> Response:
    """Merge alerts (ids separated by spaces or lines) into the case."""
    clock = node_of(request).clock

    def act(session: Session, actor: str) -> str:
        done = merge_alerts(
            session, clock=clock, actor=actor, case_id=case_id, alert_ids=alert_ids.split()
        )
        return f"{len(done['merged'])} alert(s) merged, {len(done['observables'])} observable(s)"

    return _change(request, case_id, csrf, act)


@router.post("/cases/{case_id}/links")
def links_submit(
    request: Request, case_id: str, csrf: Csrf = "", parent_id: Text = "", campaign: Text = ""
) -> Response:
    """Set the parent case and/or the campaign."""
    clock = node_of(request).clock

    def act(session: Session, actor: str) -> str:
        link_cases(
            session,
            clock=clock,
            actor=actor,
            case_id=case_id,
            parent_id=parent_id.strip() or None,
            campaign=campaign.strip() or None,
        )
        return "links saved"

    return _change(request, case_id, csrf, act)
