"""Request dependencies: the node, and the authenticated, role-checked principal.

Every failed authentication or role check is written to the audit ledger in a transaction of
its own (the request itself does not commit), with the reason, path and client address, never
the secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from watchkeeper.errors import AuthError, Forbidden, Unauthenticated, WatchkeeperError
from watchkeeper.node import Node
from watchkeeper.security import (
    STAFF_ROLES,
    Principal,
    authenticate,
    basic_credentials,
    record,
)


def node_of(request: Request) -> Node:
    """The node the app was built with."""
    node: Node = request.app.state.node
    return node


async def get_node(request: Request) -> Node:
    """Dependency form of :func:`node_of` (async: no thread hop for a lookup)."""
    return node_of(request)


NodeDep = Annotated[Node, Depends(get_node)]


def audit_denied(
    node: Node, request: Request, exc: AuthError, *, actor: str, action: str | None = None
) -> None:
    """Record a refused request in the ledger (``action``: by default ``auth.token`` or
    ``auth.role`` after the refusal)."""
    detail: dict[str, Any] = {
        "reason": str(exc.fields.get("reason", exc.code)),
        "method": request.method,
        "path": request.url.path,
        "client": request.client.host if request.client else None,
    }
    token = exc.fields.get("token")
    with node.database.transaction() as session:
        record(
            session,
            clock=node.clock,
            actor=actor,
            action=action or ("auth.token" if isinstance(exc, Unauthenticated) else "auth.role"),
            subject=f"token:{token}" if token else None,
            outcome="denied",
            detail=detail,
        )


P = ParamSpec("P")
T = TypeVar("T")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def audit_failure(request: Request, exc: WatchkeeperError) -> None:
    """Record a refused change by a known principal (auth refusals are recorded already)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if request.method not in MUTATING or principal is None or isinstance(exc, AuthError):
        return
    node = node_of(request)
    with node.database.transaction() as session:
        record(
            session,
            clock=node.clock,
            actor=principal.actor,
            action=f"api.{request.method.lower()}",
            subject=request.url.path,
            outcome="failed",
            detail={"code": exc.code, "error": exc.message},
        )


def _authenticate(node: Node, request: Request) -> Principal:
    """The principal of the request's token: as a bearer token, or as the password of HTTP
    Basic credentials (which TAXII clients send) whose user is the account or peer code."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    user: str | None = None
    if scheme == "basic" and value:
        user, value = basic_credentials(value)
    elif scheme != "bearer" or not value:
        raise Unauthenticated(
            "missing token (Authorization: Bearer wk_..., or Basic with the token as password)",
            reason="missing",
        )
    with node.database.connection() as connection:
        return authenticate(connection, secret=value, clock=node.clock, user=user)


async def quick_read(node: Node, read: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a short read on the node's database from async code.

    On SQLite a short indexed read of the local WAL database never waits for writers, so it
    runs on the event loop: a hop to the thread pool costs more than the read itself (measured
    with benchmarks/api.py: about 1.6x the throughput and half the p99). On PostgreSQL the read
    crosses the network and goes to the thread pool. Writes never come here: they may wait for
    the write lock.
    """
    if node.database.dialect == "sqlite":
        return read(*args, **kwargs)
    return await run_in_threadpool(read, *args, **kwargs)


async def bearer_principal(request: Request, node: NodeDep) -> Principal:
    """The principal of the request's token (bearer or Basic); 401 (audited) when absent or
    invalid."""
    try:
        return await quick_read(node, _authenticate, node, request)
    except Unauthenticated as exc:
        await run_in_threadpool(audit_denied, node, request, exc, actor="anonymous")
        raise


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits principals holding one of ``roles`` (403, audited, otherwise)."""

    async def dependency(
        request: Request,
        node: NodeDep,
        principal: Annotated[Principal, Depends(bearer_principal)],
    ) -> Principal:
        try:
            principal.require(*roles)
        except Forbidden as exc:
            await run_in_threadpool(audit_denied, node, request, exc, actor=principal.actor)
            raise
        request.state.principal = principal
        return principal

    return dependency


AnyStaff = Annotated[Principal, Depends(require(*STAFF_ROLES))]
AnyPrincipal = Annotated[Principal, Depends(require(*STAFF_ROLES, "partner-node"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Auditor = Annotated[Principal, Depends(require("admin", "auditor"))]
