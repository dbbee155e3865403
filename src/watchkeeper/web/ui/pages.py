"""Rendering UI pages: the signed-in user, the page frame, and the answers to refusals.

Shared by every UI router (one per area), so each area's pages look and guard alike.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from watchkeeper import __version__
from watchkeeper.errors import Forbidden, NotFound, Unauthenticated, WatchkeeperError
from watchkeeper.security import UiLogin, resolve_session
from watchkeeper.web.deps import node_of
from watchkeeper.web.ui.areas import AREAS

SESSION_COOKIE = "wk_session"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def signed_in(request: Request) -> UiLogin | None:
    """The login of the request's session cookie, if it is valid."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    node = node_of(request)
    try:
        with node.database.reader() as session:
            return resolve_session(session, clock=node.clock, cookie=cookie)
    except Unauthenticated:
        return None


def page(
    request: Request, template: str, login: UiLogin | None, status: int = 200, **context: Any
) -> HTMLResponse:
    """A template rendered inside the frame (node name, navigation, signed-in user)."""
    node = node_of(request)
    try:
        identity = node.identity()
        node_label = f"{identity.code} · {identity.name}"
    except NotFound:
        node_label = "uninitialised node"
    return templates.TemplateResponse(
        request,
        template,
        {
            "login": login,
            "areas": AREAS,
            "node_label": node_label,
            "version": __version__,
            **context,
        },
        status_code=status,
    )


def guard(request: Request, *roles: str) -> UiLogin | Response:
    """The signed-in user holding one of ``roles``; otherwise the login redirect or a 403 page."""
    login = signed_in(request)
    if login is None:
        return to_login()
    try:
        login.principal.require(*roles)
    except Forbidden as exc:
        return denied(request, login, exc)
    return login


def form_guard(request: Request, csrf: str, *roles: str) -> UiLogin | Response:
    """The signed-in user behind a form post, whose CSRF token must be the session's and who
    must hold one of ``roles`` (none given: any user); otherwise the login redirect or the
    error page. The token is checked first, so a stale form is told so whatever the role."""
    login = signed_in(request)
    if login is None:
        return to_login()
    try:
        check_csrf(login, csrf)
        if roles:
            login.principal.require(*roles)
    except Forbidden as exc:
        return denied(request, login, exc)
    return login


def back_to(where: str, message: str) -> RedirectResponse:
    """Post/redirect/get: the page at ``where`` showing ``message``, so a reload repeats nothing."""
    return RedirectResponse(f"{where}?{urlencode({'message': message})}", status_code=303)


def to_login() -> RedirectResponse:
    """Send the browser to the login form."""
    return RedirectResponse("/ui/login", status_code=303)


def denied(request: Request, login: UiLogin, exc: WatchkeeperError) -> HTMLResponse:
    """An error page with the error's status (403, 404, 422...)."""
    return page(request, "error.html", login, status=exc.status, error=exc)


def check_csrf(login: UiLogin, token: str) -> None:
    """Refuse a form whose CSRF token is not the one stored with the session."""
    if not secrets.compare_digest(login.csrf, token):
        raise Forbidden("the form's CSRF token is missing or stale; reload the page")
