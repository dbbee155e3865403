"""The inbox of signed messages from partner nodes (``POST /api/v1/cooperation/messages``).

This route takes no API token: the sending node's signature is the authentication. The request
is signed with the sender's node key (``X-Watchkeeper-*`` headers over the method, path and
exact body, with a time and a nonce), and the message inside is signed again, as a document
that can be kept and shown later. A request from an unknown node, with a bad signature or
seen before (a captured request sent again) is refused 401 before its body is read as a
message; then :func:`~watchkeeper.cooperation.inbox_messages.receive_message` checks the
message itself. Every refusal is audited (``cooperation.message.rejected``) and answered as a
problem document whose ``reason`` says why; a message accepted, or received before, is
answered 200 with the receipt this node signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from watchkeeper.cooperation.inbox_messages import audit_refusal, receive_message
from watchkeeper.errors import InvalidInput, Unauthenticated
from watchkeeper.node import Node
from watchkeeper.security import Peer, check_signature, remember_nonce
from watchkeeper.web.deps import NodeDep

router = APIRouter(tags=["cooperation"])
HEADER_NODE = "X-Watchkeeper-Node"


def _authenticated_sender(node: Node, headers: Mapping[str, str], target: str, body: bytes) -> str:
    """The registered peer that signed this very request, its nonce now remembered."""
    sender = headers.get(HEADER_NODE) or ""
    try:
        with node.database.reader() as session:
            if not sender:
                raise Unauthenticated(
                    f"signed request refused: no {HEADER_NODE} header (a node signs what it "
                    "sends here; no token is taken)",
                    reason="unsigned",
                )
            peer = session.get(Peer, sender)
            if peer is None:
                raise Unauthenticated(
                    f"signed request refused: {sender} is not a registered peer",
                    reason="unknown-sender",
                    peer=sender,
                )
            nonce = check_signature(
                clock=node.clock,
                peer=peer,
                method="POST",
                target=target,
                body=body,
                headers=headers,
            )
        with node.database.transaction() as session:
            remember_nonce(session, clock=node.clock, peer=sender, nonce=nonce)
    except Unauthenticated as exc:
        audit_refusal(node, error=exc, via="http", sender=sender or None, message_id=None)
        raise
    return sender


def _receive(node: Node, headers: Mapping[str, str], target: str, body: bytes) -> dict[str, Any]:
    limit = node.settings.cooperation_max_message_bytes
    if len(body) > limit:
        error = InvalidInput(
            f"message over the limit of {limit} bytes (setting cooperation_max_message_bytes)",
            reason="too-large",
        )
        sender = headers.get(HEADER_NODE) or None
        audit_refusal(node, error=error, via="http", sender=sender, message_id=None)
        raise error
    sender = _authenticated_sender(node, headers, target, body)
    return receive_message(node, raw=body, via="http", sender_hint=sender)


@router.post("/cooperation/messages")
async def receive(request: Request, node: NodeDep) -> JSONResponse:
    """Receive one signed message from a partner node; its signed receipt.

    No token: the node signature is the authentication (see the module docstring).
    """
    limit = node.settings.cooperation_max_message_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # enough to refuse it as too large; read no more
            break
    raw = request.scope.get("raw_path") or request.url.path.encode()
    target = raw.decode("latin-1")
    receipt = await run_in_threadpool(_receive, node, request.headers, target, bytes(body))
    return JSONResponse(receipt)
