"""The Detection pages: the alert queue with its filters, one alert with the lines that matched
and the indicator behind it, the buttons that acknowledge, close or open a case, and the
recent detection runs.

Forms post with the session's CSRF token and answer with a redirect (post/redirect/get), so a
reload never repeats an escalation.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.detect.alert_views import (
    SETTABLE,
    alert_counts,
    alert_view,
    escalate_alert,
    list_alerts,
    list_runs,
    max_tlp_for,
    set_alert_status,
)
from watchkeeper.detect.alerts import SEVERITIES
from watchkeeper.detect.models import ALERT_KINDS, ALERT_STATUSES
from watchkeeper.errors import InvalidInput, NotFound, WatchkeeperError
from watchkeeper.intel import ScoringPolicy
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.areas import AREAS_BY_SLUG
from watchkeeper.web.ui.pages import back_to, denied, form_guard, guard, page

router = APIRouter(prefix="/ui", include_in_schema=False)
READERS = ("admin", "analyst", "responder", "poc-officer")
CHANGERS = ("admin", "analyst", "responder")
PAGE_SIZE = 50
RUNS_SHOWN = 50
# The queue opens on what still needs someone; "any" shows every status.
OPEN = ("new", "acknowledged")
Csrf = Annotated[str, Form()]


def _statuses(status: str | None) -> list[str] | None:
    if status is None or status == "open":
        return list(OPEN)
    return [status] if status else None


@router.get("/detect")
def alerts_page(
    request: Request,
    status: str | None = None,
    kind: str = "",
    severity: str = "",
    host: str = "",
    q: str = "",
    cursor: str = "",
    message: str | None = None,
) -> Response:
    """The alert queue: counts, filters, a page of alerts, and the form to open a case."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    max_tlp = max_tlp_for(login.principal)
    error = None
    result: dict[str, Any] = {"alerts": [], "next": None}
    with node.database.reader() as session:
        try:
            result = list_alerts(
                session,
                status=_statuses(status),
                kind=[kind] if kind else None,
                severity=[severity] if severity else None,
                host=host[:300] or None,
                q=q[:500] or None,
                cursor=cursor[:200] or None,
                limit=PAGE_SIZE,
                max_tlp=max_tlp,
            )
        except InvalidInput as exc:
            error = exc.message
        counts = alert_counts(session, max_tlp=max_tlp)
    filters = {
        "status": "open" if status is None else status,
        "kind": kind,
        "severity": severity,
        "host": host,
        "q": q,
    }
    next_url = None
    if result["next"]:
        next_url = "/ui/detect?" + urlencode({**filters, "cursor": result["next"]})
    return page(
        request,
        "alerts.html",
        login,
        area=AREAS_BY_SLUG["detect"],
        alerts=result["alerts"],
        next_url=next_url,
        counts=counts,
        filters=filters,
        statuses=ALERT_STATUSES,
        kinds=ALERT_KINDS,
        severities=SEVERITIES,
        error=error,
        message=message,
        can_change=login.principal.has(*CHANGERS),
    )


@router.get("/detect/alerts/{alert_id}")
def alert_page(request: Request, alert_id: str, message: str | None = None) -> Response:
    """One alert: what fired and why, the lines that matched, and what to do about it."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.reader() as session:
            view = alert_view(
                session,
                alert_id=alert_id,
                policy=ScoringPolicy.from_settings(node.settings),
                now=node.clock.now(),
                max_tlp=max_tlp_for(login.principal),
            )
    except NotFound as exc:
        return denied(request, login, exc)
    return page(
        request,
        "alert.html",
        login,
        area=AREAS_BY_SLUG["detect"],
        view=view,
        alert=view["alert"],
        settable=[s for s in SETTABLE if s != view["alert"]["status"]],
        message=message,
        can_change=login.principal.has(*CHANGERS),
    )


def _back(alert_id: str | None, message: str) -> RedirectResponse:
    return back_to(f"/ui/detect/alerts/{alert_id}" if alert_id else "/ui/detect", message)


@router.post("/detect/alerts/{alert_id}/status")
def alert_status_submit(
    request: Request,
    alert_id: str,
    csrf: Csrf = "",
    status: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Acknowledge, close or reopen the alert from its page."""
    login = form_guard(request, csrf, *CHANGERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.transaction() as session:
            done = set_alert_status(
                session,
                clock=node.clock,
                actor=login.principal.actor,
                alert_id=alert_id,
                status=status,
                reason=reason.strip() or None,
                max_tlp=max_tlp_for(login.principal),
            )
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return _back(done["id"], f"status set to {done['status']}")


@router.post("/detect/escalate")
def escalate_submit(
    request: Request,
    csrf: Csrf = "",
    alert_ids: Annotated[list[str] | None, Form()] = None,
    title: Annotated[str, Form()] = "",
) -> Response:
    """Open a case over the chosen alerts: the response area picks up the request."""
    login = form_guard(request, csrf, *CHANGERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.transaction() as session:
            done = escalate_alert(
                session,
                clock=node.clock,
                actor=login.principal.actor,
                alert_ids=alert_ids or [],
                title=title or None,
                max_tlp=max_tlp_for(login.principal),
            )
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    alerts = done["alerts"]
    message = (
        f"case requested for {len(alerts)} alert(s): {done['title']} (event {done['seq']}); "
        "the response area opens it"
    )
    return _back(alerts[0]["id"] if len(alerts) == 1 else None, message)


@router.get("/detect/runs")
def runs_page(request: Request) -> Response:
    """The recent detection runs: what they read, what they found, what they could not read."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    with node.database.reader() as session:
        runs = list_runs(session, limit=RUNS_SHOWN)
    return page(request, "detect_runs.html", login, area=AREAS_BY_SLUG["detect"], runs=runs)
