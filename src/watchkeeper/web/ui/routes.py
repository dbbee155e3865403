"""UI pages. Plain HTML forms, no JavaScript needed; every form carries a CSRF token.

Login uses a double-submit cookie for its CSRF token (there is no session yet); afterwards the
token is the one stored with the session. The session cookie is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.bus import event_counts, event_document, read_events
from watchkeeper.errors import NotFound, Unauthenticated, WatchkeeperError
from watchkeeper.node import Node
from watchkeeper.security import (
    add_user,
    check_password,
    close_session,
    entry_document,
    list_entries,
    list_users,
    open_session,
    record,
    set_password,
    verify,
)
from watchkeeper.security.roles import ROLES
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.areas import AREAS_BY_SLUG
from watchkeeper.web.ui.pages import (
    SESSION_COOKIE,
    back_to,
    denied,
    form_guard,
    guard,
    page,
    signed_in,
    to_login,
)

LOGIN_CSRF_COOKIE = "wk_login_csrf"
router = APIRouter(prefix="/ui", include_in_schema=False)
Field = Annotated[str, Form()]
# Defaults to "" so a missing token reaches the handler's own check and its HTML answer.
Csrf = Annotated[str, Form()]


def _login_page(request: Request, *, status: int = 200, error: str | None = None) -> Response:
    """The login form with a fresh double-submit CSRF token (cookie and hidden field)."""
    token = secrets.token_urlsafe(32)
    response = page(request, "login.html", None, status=status, csrf=token, error=error)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/ui/login"
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    """The login form."""
    return _login_page(request)


@router.post("/login")
def login_submit(
    request: Request, name: Field = "", password: Field = "", csrf: Csrf = ""
) -> Response:
    """Check the credentials and open a session (every attempt audited)."""
    node: Node = node_of(request)
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie_token or not secrets.compare_digest(cookie_token, csrf):
        return _login_page(request, status=403, error="The form expired; please try again.")
    client = request.client.host if request.client else None
    try:
        with node.database.transaction() as session:
            user = check_password(session, name=name, password=password)
            login = open_session(
                session, clock=node.clock, user=user, hours=node.settings.session_hours
            )
            record(
                session,
                clock=node.clock,
                actor=f"user:{name}",
                action="ui.login",
                detail={"client": client},
            )
    except Unauthenticated:
        with node.database.transaction() as session:
            record(
                session,
                clock=node.clock,
                actor="anonymous",
                action="ui.login",
                subject=f"user:{name}"[:300],
                outcome="denied",
                detail={"client": client},
            )
        return _login_page(request, status=401, error="Wrong user name or password.")
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        login.cookie,
        httponly=True,
        samesite="strict",
        secure=node.settings.cookie_secure,
        max_age=node.settings.session_hours * 3600,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Csrf = "") -> Response:
    """Close the session."""
    login = form_guard(request, csrf)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    with node.database.transaction() as session:
        close_session(session, cookie=login.cookie)
        record(session, clock=node.clock, actor=login.principal.actor, action="ui.logout")
    response = to_login()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def dashboard(request: Request) -> Response:
    """Overview: this node, event counts, newest events."""
    login = signed_in(request)
    if login is None:
        return to_login()
    node = node_of(request)
    with node.database.reader() as session:
        counts = [(c.type, c.count, c.last_at) for c in event_counts(session)]
    return page(request, "dashboard.html", login, counts=counts)


@router.get("/audit")
def audit_page(request: Request, after: int = 0) -> Response:
    """The audit ledger and the state of its hash chain."""
    login = guard(request, "admin", "auditor")
    if isinstance(login, Response):
        return login
    node = node_of(request)
    with node.database.reader() as session:
        result = verify(session)
        entries = [entry_document(e) for e in list_entries(session, after=after, limit=200)]
    return page(request, "audit.html", login, result=result, entries=entries)


@router.get("/events")
def events_page(request: Request, after: int = 0) -> Response:
    """The event log."""
    login = guard(request, "admin", "auditor")
    if isinstance(login, Response):
        return login
    node = node_of(request)
    with node.database.reader() as session:
        events = [event_document(e) for e in read_events(session, after=after, limit=200)]
    return page(request, "events.html", login, events=events)


@router.get("/users")
def users_page(request: Request, message: str | None = None) -> Response:
    """Users and the form to add one (admin)."""
    login = guard(request, "admin")
    if isinstance(login, Response):
        return login
    node = node_of(request)
    with node.database.reader() as session:
        users = [(u.name, u.display_name, u.role_names, u.disabled) for u in list_users(session)]
    return page(request, "users.html", login, users=users, roles=ROLES, message=message)


@router.post("/users")
def users_add(
    request: Request,
    name: Field,
    csrf: Csrf = "",
    display_name: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    password: Annotated[str, Form()] = "",
) -> Response:
    """Add a user from the form."""
    login = form_guard(request, csrf, "admin")
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.transaction() as session:
            add_user(
                session,
                clock=node.clock,
                actor=login.principal.actor,
                name=name,
                roles=roles or [],
                display_name=display_name,
                password=password or None,
            )
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return RedirectResponse(f"/ui/users?message=added+{name}", status_code=303)


@router.get("/account")
def account_page(request: Request, message: str | None = None) -> Response:
    """The signed-in user's account."""
    login = signed_in(request)
    if login is None:
        return to_login()
    return page(request, "account.html", login, message=message)


@router.post("/account/password")
def account_password(request: Request, current: Field, new: Field, csrf: Csrf = "") -> Response:
    """Change one's own password."""
    login = form_guard(request, csrf)
    if isinstance(login, Response):
        return login
    node = node_of(request)
    try:
        with node.database.transaction() as session:
            check_password(session, name=login.principal.name, password=current)
            set_password(
                session,
                clock=node.clock,
                actor=login.principal.actor,
                name=login.principal.name,
                password=new,
            )
    except WatchkeeperError as exc:
        return denied(request, login, exc)
    return back_to("/ui/account", "password changed")


@router.get("/{slug}")
def area_page(request: Request, slug: str) -> Response:
    """An area's page."""
    login = signed_in(request)
    if login is None:
        return to_login()
    area = AREAS_BY_SLUG.get(slug)
    if area is None:
        return denied(request, login, NotFound(f"no page {slug!r}"))
    return page(request, "area.html", login, area=area)
