"""The playbook pages: runs (status, reason), one run with its steps (timings, attempts, errors)
and approvals, and the approvals inbox where people approve or deny.

Forms post with the session's CSRF token and answer with a redirect (post/redirect/get), so a
reload never casts a second vote.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from watchkeeper.errors import InvalidInput, NotFound, WatchkeeperError
from watchkeeper.respond.approvals import decide, list_approvals
from watchkeeper.respond.run_models import RUN_STATUSES
from watchkeeper.respond.run_views import list_runs, run_document
from watchkeeper.respond.watchdog import cancel_run
from watchkeeper.security import STAFF_ROLES
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.areas import AREAS_BY_SLUG
from watchkeeper.web.ui.pages import back_to, denied, form_guard, guard, page

router = APIRouter(prefix="/ui", include_in_schema=False)
READERS = ("admin", "analyst", "responder", "poc-officer")
CHANGERS = ("admin", "analyst", "responder")
RUNS_SHOWN = 100
Csrf = Annotated[str, Form()]


@router.get("/playbooks/runs")
def runs_page(request: Request, status: str = "", playbook: str = "") -> Response:
    """The newest runs, filtered by status or playbook."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    error = None
    rows = []
    with node_of(request).database.reader() as session:
        try:
            rows = list_runs(session, status=[status] if status else None,
                             playbook=playbook[:200] or None, limit=RUNS_SHOWN)  # fmt: skip
        except InvalidInput as exc:
            error = exc.message
    return page(request, "playbook_runs.html", login, area=AREAS_BY_SLUG["respond"], runs=rows,
                statuses=RUN_STATUSES, filters={"status": status, "playbook": playbook},
                error=error)  # fmt: skip


@router.get("/playbooks/runs/{run_id}")
def run_page(request: Request, run_id: str, message: str | None = None) -> Response:
    """One run: its state and reason, every step with timings and errors, its approvals."""
    login = guard(request, *READERS)
    if isinstance(login, Response):
        return login
    try:
        with node_of(request).database.reader() as session:
            run = run_document(session, run_id=run_id)
    except NotFound as exc:
        return denied(request, login, exc)
    return page(request, "playbook_run.html", login, area=AREAS_BY_SLUG["respond"], run=run,
                message=message, can_change=login.principal.has(*CHANGERS),
                active=run["status"] in ("queued", "running", "waiting"))  # fmt: skip


@router.post("/playbooks/runs/{run_id}/cancel")
def cancel_submit(request: Request, run_id: str, csrf: Csrf = "",
                  reason: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    """Cancel the run from its page."""
    login = form_guard(request, csrf, *CHANGERS)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.transaction() as session:
            cancel_run(session, clock=node.clock, actor=login.principal.actor, run_id=run_id,
                       reason=reason[:2000])  # fmt: skip
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return back_to(f"/ui/playbooks/runs/{run_id}", "run cancelled")


@router.get("/approvals")
def approvals_page(
    request: Request, message: str | None = None, everyone: bool = False
) -> Response:
    """The approvals inbox: what waits for this user's vote (``everyone``: all pending)."""
    login = guard(request, *STAFF_ROLES)
    if isinstance(login, Response):
        return login
    principal = login.principal
    with node_of(request).database.reader() as session:
        rows = list_approvals(session, user=principal.name, roles=principal.roles,
                              everyone=everyone)  # fmt: skip
    return page(request, "approvals.html", login, area=AREAS_BY_SLUG["respond"],
                approvals=rows, message=message, everyone=everyone)  # fmt: skip


@router.post("/approvals/{approval_id}/vote")
def vote_submit(request: Request, approval_id: str, csrf: Csrf = "",
                decision: Annotated[str, Form()] = "",
                comment: Annotated[str, Form()] = "") -> Response:  # fmt: skip
    """Approve or deny from the inbox."""
    login = form_guard(request, csrf)  # no roles: ``decide`` knows who may vote
    if isinstance(login, Response):
        return login
    node = node_of(request)
    principal = login.principal
    try:
        with node.database.transaction() as session:
            done = decide(session, clock=node.clock, actor_user=principal.name,
                          actor_roles=principal.roles, approval_id=approval_id,
                          decision=decision, comment=comment[:2000])  # fmt: skip
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return back_to("/ui/approvals", f"you voted {decision}; the approval is {done['status']}")
