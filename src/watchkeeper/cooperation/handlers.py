"""What a received node message does: one handler per message kind.

The transport (``inbox_messages``) verifies an envelope (sender, signature, address,
duplicates) and then calls :func:`handle_message` in the same transaction that records the
message, so a message is either received and acted on, or neither. ``HANDLERS`` is the
registry: an extension adds a kind the way the built-ins are added here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.cooperation.incoming import receive_request
from watchkeeper.cooperation.replies import (
    on_ack,
    on_consultation,
    on_decision,
    on_status,
    on_withdraw,
)
from watchkeeper.cooperation.results import keep_results
from watchkeeper.errors import InvalidInput
from watchkeeper.node import Node

Handler = Callable[..., dict[str, Any]]
"""``handler(session, *, node, envelope) -> dict`` (a short result put in the receipt)."""

HANDLERS: dict[str, Handler] = {
    "request": receive_request,
    "ack": on_ack,
    "status": on_status,
    "decision": on_decision,
    "consultation": on_consultation,
    "withdraw": on_withdraw,
    "results": keep_results,
}


def handle_message(session: Session, *, node: Node, envelope: dict[str, Any]) -> dict[str, Any]:
    """Act on a verified envelope (``envelope["kind"]`` picks the handler)."""
    kind = str(envelope.get("kind", ""))
    handler = HANDLERS.get(kind)
    if handler is None:
        raise InvalidInput(
            f"unknown message kind {kind!r}; known: {', '.join(sorted(HANDLERS)) or 'none'}",
            field="kind",
            reason="unknown-kind",
        )
    return handler(session, node=node, envelope=envelope)
