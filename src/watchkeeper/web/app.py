"""``create_app(settings)``: the FastAPI application of one node (API, UI, health)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watchkeeper import __version__
from watchkeeper.config import Settings
from watchkeeper.cooperation.drafts import register as register_drafts
from watchkeeper.node import Node
from watchkeeper.respond.escalations import register as register_escalations
from watchkeeper.web.api import router as api_router
from watchkeeper.web.deps import AnyPrincipal, quick_read
from watchkeeper.web.problems import install_problem_handlers, unexpected_problem
from watchkeeper.web.taxii import PREFIX as TAXII_PREFIX
from watchkeeper.web.taxii import taxii_app
from watchkeeper.web.ui import router as ui_router
from watchkeeper.workers import run_workers

STATIC = Path(__file__).parent / "ui" / "static"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'"),
]


class SecurityHeaders:
    """Adds the hardening headers to every response, and renders unexpected errors as 500
    problem+json (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            response = unexpected_problem(Request(scope), exc)
            await response(scope, receive, send_with_headers)


def create_app(
    settings: Settings | None = None, *, node: Node | None = None, workers: bool = False
) -> FastAPI:
    """Build the app; with ``workers`` the event dispatcher (and NATS relay) run beside it."""
    if node is None:
        if settings is None:
            raise ValueError("create_app needs settings or a node")
        node = Node(settings).start()
    owned = node
    register_escalations(node)  # cases from escalations, wherever this node dispatches
    register_drafts(node)  # cooperation drafts asked for by playbooks

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(run_workers(owned, stop)) if workers else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task

    app = FastAPI(
        title="Watchkeeper",
        version=__version__,
        summary="Operations platform of a national cyber agency",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind authentication like every /api route
    )
    app.state.node = node
    install_problem_handlers(app)

    @app.get("/healthz", tags=["system"])
    async def healthz() -> dict[str, str]:
        """Liveness and database reachability; the only route without authentication."""
        await quick_read(owned, owned.database.check)
        return {"status": "ok", "version": __version__}

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    async def openapi(principal: AnyPrincipal) -> JSONResponse:
        """The OpenAPI description of this node's API."""
        return JSONResponse(app.openapi())

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=303)

    app.include_router(api_router)
    app.include_router(ui_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount(TAXII_PREFIX, taxii_app(node), name="taxii")
    app.add_middleware(SecurityHeaders)
    return app
