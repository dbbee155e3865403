"""Errors as RFC 9457 problem details (``application/problem+json``) with a stable ``code``.

One place renders every failure of the API; no traceback ever leaves the process (it goes to
the log with the request's path instead).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from watchkeeper.errors import Unauthenticated, WatchkeeperError
from watchkeeper.web.deps import audit_failure

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem_response(
    *, status: int, code: str, title: str, detail: str, instance: str, **fields: Any
) -> JSONResponse:
    """A problem+json response; ``fields`` become extension members."""
    body: dict[str, Any] = {
        "type": f"urn:watchkeeper:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    body.update({key: value for key, value in fields.items() if key not in body})
    headers = {"WWW-Authenticate": 'Bearer realm="watchkeeper"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def _watchkeeper(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WatchkeeperError)
    await run_in_threadpool(audit_failure, request, exc)
    fields = dict(exc.fields)
    if isinstance(exc, Unauthenticated):
        fields.pop("token", None)  # do not confirm which tokens exist
    return problem_response(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.message,
        instance=request.url.path,
        **fields,
    )


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"field": "request", "message": "invalid"}
    return problem_response(
        status=422,
        code="input.invalid",
        title="Invalid input",
        detail=f"{first['field']}: {first['message']}",
        instance=request.url.path,
        errors=errors,
    )


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem_response(
        status=exc.status_code,
        code=f"http.{exc.status_code}",
        title=str(exc.detail),
        detail=str(exc.detail),
        instance=request.url.path,
    )


def _storage(request: Request, exc: Exception) -> JSONResponse:
    log.error("database error on %s: %s", request.url.path, exc)
    return problem_response(
        status=503,
        code="storage.unavailable",
        title="Storage unavailable",
        detail="the database did not answer; try again",
        instance=request.url.path,
    )


def unexpected_problem(request: Request, exc: Exception) -> JSONResponse:
    """A 500 that names nothing internal; the traceback goes to the log."""
    log.error("unexpected error on %s", request.url.path, exc_info=exc)
    return problem_response(
        status=500,
        code="internal",
        title="Internal error",
        detail="an unexpected error occurred; it has been logged",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every kind of failure through problem+json."""
    app.add_exception_handler(WatchkeeperError, _watchkeeper)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(OperationalError, _storage)
    # Anything else is rendered by the SecurityHeaders middleware (web.app) via
    # unexpected_problem: Starlette would render a catch-all handler outside every middleware,
    # and the 500 would lose the hardening headers.
