"""Signed requests from partner nodes: checked on every TAXII request that carries them.

A partner Watchkeeper node signs its requests with its node key
(:mod:`watchkeeper.security.signatures`); the rules are
:func:`~watchkeeper.federation.caller_signature`'s: writes must be signed (unless
``taxii_unsigned_peer_writes``), reads may be, and whatever is signed must verify. A read's
nonce is remembered at once, in a transaction of its own (a read has no work to commit it
with); a write's is remembered in the transaction that records the request, so a request
that is refused before any work leaves nothing behind. A refusal is a TAXII 401, audited as
``auth.signature`` by the error handler.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.federation import Caller, caller_signature, taxii_caller
from watchkeeper.node import Node
from watchkeeper.security import Principal, is_signed, remember_nonce
from watchkeeper.web.deps import NodeDep
from watchkeeper.web.taxii.requests import TaxiiUser

READS = frozenset({"GET", "HEAD"})


def target_of(request: Request) -> str:
    """The request's target as the client sent it and signed it: raw path and query."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return (raw + b"?" + query if query else raw).decode("latin-1")


def request_nonce(node: Node, caller: Caller, request: Request, body: bytes) -> str | None:
    """Check the signature of ``request`` from ``caller`` (blocking: call it in a thread);
    the nonce to remember with the request's work, if any."""
    with node.database.reader() as session:
        return caller_signature(
            session,
            clock=node.clock,
            caller=caller,
            method=request.method,
            target=target_of(request),
            body=body,
            headers=request.headers,
            unsigned_writes=node.settings.taxii_unsigned_peer_writes,
        )


def remember(session: Session, node: Node, caller: Caller, nonce: str | None) -> None:
    """Remember ``caller``'s ``nonce`` (if any) in ``session``'s transaction: ``Unauthenticated``
    (reason ``replayed``) when the same request came before."""
    if nonce is not None and caller.peer is not None:
        remember_nonce(session, clock=node.clock, peer=caller.peer, nonce=nonce)


def _check_read(node: Node, principal: Principal, request: Request) -> None:
    with node.database.reader() as session:
        caller = taxii_caller(session, principal=principal)
    nonce = request_nonce(node, caller, request, b"")
    if nonce is not None:
        with node.database.transaction() as session:
            remember(session, node, caller, nonce)


async def signed_read(request: Request, principal: TaxiiUser, node: NodeDep) -> None:
    """Reads: a partner's signature headers, when present, must verify (401 otherwise)."""
    if request.method not in READS or "partner-node" not in principal.roles:
        return
    if not is_signed(request.headers):
        return
    await run_in_threadpool(_check_read, node, principal, request)
