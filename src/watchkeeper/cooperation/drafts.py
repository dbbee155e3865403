"""Drafts asked for by playbooks: a ``cooperation.request.drafted`` event becomes a draft.

A response playbook that finds infrastructure abroad asks for a preservation request with an
event (the responding area sits above this one and hands work down through the event log).
The ``cooperation-drafts`` subscriber turns it into a draft outgoing request carrying what the
playbook knew; a person completes, checks and signs it like any other. The draft's id is
derived from the event's, so a redelivered event finds its draft and makes no second one.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.bus import Event
from watchkeeper.cooperation.models import CoopRequest
from watchkeeper.cooperation.request_fields import RequestFields
from watchkeeper.cooperation.requests import new_request
from watchkeeper.errors import WatchkeeperError
from watchkeeper.node import Node

SUBSCRIBER = "cooperation-drafts"
DRAFT_EVENT = "cooperation.request.drafted"
_NAMESPACE = uuid.UUID("5f0c3d1e-8a3b-4c55-9a57-6d1f0c2b7e41")
log = logging.getLogger(__name__)


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return "" if value is None else str(value).strip()


def draft_from_event(session: Session, *, node: Node, event: Event) -> CoopRequest | None:
    """The draft an event asks for (None when the event names no state or type)."""
    request_id = str(uuid.uuid5(_NAMESPACE, event.id))
    existing = session.get(CoopRequest, request_id)
    if existing is not None:
        return existing
    payload = event.payload or {}
    kind, country = _text(payload, "kind") or "preservation", _text(payload, "country")
    if not country:
        log.warning("event %s asks for a %s request but names no state; no draft", event.id, kind)
        return None
    subject = " ".join(filter(None, (_text(payload, "subject_kind"), _text(payload, "subject"))))
    contents = {
        key: value
        for key, value in {
            "data-link": f"Data of {subject}" if subject else "",
            "custodian-location": _text(payload, "provider"),
        }.items()
        if value
    }
    fields = RequestFields(
        contents=contents,
        case_id=_text(payload, "case_id") or None,
        urgent=_text(payload, "urgency") == "urgent",
    )
    try:
        return new_request(
            session,
            node=node,
            actor=event.actor or "playbook",
            type=kind,
            to_state=country,
            fields=fields,
            request_id=request_id,
        )
    except WatchkeeperError as exc:  # a bad type or state: said once, never retried for ever
        log.warning("event %s: no draft %s request to %s: %s", event.id, kind, country, exc)
        return None


def register(node: Node) -> None:
    """Subscribe ``cooperation-drafts`` on the node's dispatcher (once per process)."""
    if any(sub.name == SUBSCRIBER for sub in node.dispatcher.subscribers):
        return

    def handle(session: Session, event: Event) -> None:
        draft_from_event(session, node=node, event=event)

    node.dispatcher.subscribe(SUBSCRIBER, handle, types=(DRAFT_EVENT,))
