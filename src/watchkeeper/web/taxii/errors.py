"""TAXII error messages: every failure of the TAXII server as a TAXII 2.1 error object.

The rest of the node answers errors as problem+json; a TAXII client expects the TAXII error
resource (``title``, ``description``, ``error_id``, ``error_code``, ``http_status`` as text,
``details``) in the TAXII media type, so the TAXII application renders its own, from the same
exception tree. A 401 names both schemes the server takes (HTTP Basic, which TAXII requires,
and Bearer). Refusals are audited as on the rest of the API: failed authentication and
missing roles by the dependencies that refuse them, a missing collection right and a partner
node's missing, forged or replayed request signature (``auth.signature``) here, and every
failed POST or DELETE by a known caller. No traceback ever reaches a client.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watchkeeper.errors import Forbidden, Unauthenticated, WatchkeeperError
from watchkeeper.security import Principal
from watchkeeper.web.deps import audit_denied, audit_failure, node_of
from watchkeeper.web.taxii.media import TaxiiResponse

log = logging.getLogger(__name__)
CHALLENGE = 'Basic realm="watchkeeper TAXII", charset="UTF-8", Bearer realm="watchkeeper TAXII"'
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal error",
    503: "Storage unavailable",
}


class TaxiiRefusal(WatchkeeperError):
    """A request the TAXII protocol itself refuses: its media types, size or syntax (400,
    406, 413, 415, 422), before any of the node's own rules is asked."""

    def __init__(self, status: int, message: str, *, code: str, **fields: Any) -> None:
        super().__init__(message, code=code, **fields)
        self.status = status
        self.title = TITLES.get(status, "Error")


def error_response(
    *, status: int, title: str, description: str, code: str, details: dict[str, Any] | None = None
) -> TaxiiResponse:
    """A TAXII error message; ``details`` holds the error's structured fields."""
    body: dict[str, Any] = {
        "title": title,
        "description": description,
        "error_id": str(uuid.uuid4()),
        "error_code": code,
        "http_status": str(status),
    }
    if details:
        body["details"] = details
    headers = {"WWW-Authenticate": CHALLENGE} if status == 401 else None
    return TaxiiResponse(orjson.dumps(body, default=str), status_code=status, headers=headers)


def _audit(request: Request, exc: WatchkeeperError) -> None:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None and isinstance(exc, Forbidden):
        # A right on a collection, refused after the role check let the caller in (the role
        # check audits its own refusals and leaves no principal behind).
        audit_denied(node_of(request), request, exc, actor=principal.actor)
    elif principal is not None and isinstance(exc, Unauthenticated):
        # A known token whose node signature is missing, forged, stale or replayed.
        audit_denied(node_of(request), request, exc, actor=principal.actor, action="auth.signature")
    else:
        audit_failure(request, exc)


async def _watchkeeper(request: Request, exc: Exception) -> TaxiiResponse:
    assert isinstance(exc, WatchkeeperError)
    await run_in_threadpool(_audit, request, exc)
    details = {key: value for key, value in exc.fields.items() if key != "token"}
    if isinstance(exc, Unauthenticated):
        details = {"reason": details.get("reason")}  # never confirm which tokens exist
    return error_response(
        status=exc.status, title=exc.title, description=exc.message, code=exc.code, details=details
    )


def _validation(request: Request, exc: Exception) -> TaxiiResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": ("request",), "msg": "invalid"}
    where = ".".join(str(part) for part in first["loc"])
    return error_response(
        status=400, title=TITLES[400], description=f"{where}: {first['msg']}", code="taxii.request"
    )


def _http(request: Request, exc: Exception) -> TaxiiResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    return error_response(
        status=status,
        title=TITLES.get(status, "Error"),
        description=str(exc.detail),
        code=f"http.{status}",
    )


def _storage(request: Request, exc: Exception) -> TaxiiResponse:
    log.error("database error on %s: %s", request.url.path, exc)
    return error_response(
        status=503,
        title=TITLES[503],
        description="the database did not answer; try again",
        code="storage.unavailable",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render every expected failure of ``app`` as a TAXII error message."""
    app.add_exception_handler(WatchkeeperError, _watchkeeper)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(OperationalError, _storage)


class UnexpectedErrors:
    """Renders an unexpected exception as a TAXII 500 that names nothing internal (the
    traceback goes to the log), instead of letting it reach the node's problem+json handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unexpected error on %s", scope.get("path"))
            if started:
                raise
            response = error_response(
                status=500,
                title=TITLES[500],
                description="an unexpected error occurred; it has been logged",
                code="internal",
            )
            await response(scope, receive, send)
