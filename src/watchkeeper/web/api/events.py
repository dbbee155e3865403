"""Reading the event log and managing its dead letters (admin, auditor to read)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from watchkeeper.bus import event_document, list_dead_letters, read_events, request_replay
from watchkeeper.security import record_change
from watchkeeper.web.deps import Admin, Auditor, NodeDep

router = APIRouter(tags=["events"])


@router.get("/events")
def events(
    node: NodeDep,
    principal: Auditor,
    after: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    type: list[str] | None = Query(None, description="Event type; x.* matches a prefix."),
) -> list[dict[str, Any]]:
    """Events after ``after`` in order."""
    with node.database.reader() as session:
        return [
            event_document(e)
            for e in read_events(session, after=after, types=type or None, limit=limit)
        ]


@router.get("/events/dead-letters")
def dead_letters(node: NodeDep, principal: Auditor) -> list[dict[str, Any]]:
    """Events that a subscriber kept failing on."""
    with node.database.reader() as session:
        return [
            {
                "id": d.id,
                "subscriber": d.subscriber,
                "event_seq": d.event_seq,
                "attempts": d.attempts,
                "error": d.error,
                "failed_at": d.failed_at.isoformat(),
                "replay_requested": d.replay_requested_at is not None,
            }
            for d in list_dead_letters(session)
        ]


class ReplayIn(BaseModel):
    """Which dead letters to replay: ids, a subscriber, or all when both are empty."""

    ids: list[int] = []
    subscriber: str | None = None


@router.post("/events/dead-letters/replay", status_code=202)
def replay(body: ReplayIn, node: NodeDep, principal: Admin) -> dict[str, Any]:
    """Queue dead letters for redelivery by the node's dispatcher."""
    with node.database.transaction() as session:
        letters = request_replay(
            session, clock=node.clock, ids=body.ids, subscriber=body.subscriber
        )
        ids = [letter.id for letter in letters]
        record_change(
            session,
            clock=node.clock,
            actor=principal.actor,
            action="events.dlq.replay",
            subject=None,
            detail={"ids": ids},
        )
    return {"queued": ids}
