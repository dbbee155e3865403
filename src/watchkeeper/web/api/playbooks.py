"""Playbooks over the API: the stored playbooks, their runs (list, open one with its steps,
start one by hand, cancel, dry-run) and the approvals inbox (list, approve, deny).

Votes are cast by the authenticated user with their roles; who may vote is decided by the
approval itself (named users or roles, never the run's requester), not by the route.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from watchkeeper.respond.approvals import MAX_COMMENT, decide, list_approvals
from watchkeeper.respond.dry_run import dry_run
from watchkeeper.respond.playbook_store import get_playbook, list_playbooks
from watchkeeper.respond.run_models import RUN_STATUSES
from watchkeeper.respond.run_views import MAX_RUNS, list_runs, run_document
from watchkeeper.respond.runner import start_manual_run
from watchkeeper.respond.watchdog import MAX_REASON, cancel_run
from watchkeeper.security import STAFF_ROLES, Principal
from watchkeeper.web.deps import NodeDep, require

router = APIRouter(prefix="/playbooks", tags=["playbooks"])
READERS = ("admin", "analyst", "responder", "poc-officer")
CHANGERS = ("admin", "analyst", "responder")
Reader = Annotated[Principal, Depends(require(*READERS))]
Changer = Annotated[Principal, Depends(require(*CHANGERS))]
Staff = Annotated[Principal, Depends(require(*STAFF_ROLES))]


class EventIn(BaseModel):
    """The event a run starts from (type, payload...), as the event log would carry it."""

    event: dict[str, Any] = Field(default_factory=dict)


class CancelIn(BaseModel):
    """Why a run is cancelled."""

    reason: str = Field(min_length=1, max_length=MAX_REASON)


class VoteIn(BaseModel):
    """A comment kept with the vote."""

    comment: str = Field("", max_length=MAX_COMMENT)


@router.get("")
def playbooks(node: NodeDep, principal: Reader) -> list[dict[str, Any]]:
    """Every playbook: its active version, else its newest."""
    with node.database.reader() as session:
        return list_playbooks(session)


@router.get("/runs")
def runs(
    node: NodeDep,
    principal: Reader,
    status: Annotated[list[str] | None, Query(max_length=len(RUN_STATUSES))] = None,
    playbook: str | None = Query(None, min_length=1, max_length=200),
    limit: int = Query(100, ge=1, le=MAX_RUNS),
) -> list[dict[str, Any]]:
    """The newest runs, optionally of some statuses or of one playbook."""
    with node.database.reader() as session:
        return list_runs(session, status=status, playbook=playbook, limit=limit)


@router.get("/runs/{run_id}")
def run(node: NodeDep, principal: Reader, run_id: str) -> dict[str, Any]:
    """One run with its steps (status, attempts, timings, errors) and approvals."""
    with node.database.reader() as session:
        return run_document(session, run_id=run_id)


@router.post("/{name}/runs", status_code=201)
def start(node: NodeDep, principal: Changer, name: str, body: EventIn) -> JSONResponse:
    """Start NAME by hand on the given event; answers once the run waits or ends."""
    document = start_manual_run(
        node=node, actor=principal.actor, playbook_name=name, event=body.event
    )
    return JSONResponse(document, status_code=201)


@router.post("/{name}/dry-run")
def dry(node: NodeDep, principal: Reader, name: str, body: EventIn) -> list[dict[str, Any]]:
    """What NAME would do on the event, step by step; nothing runs."""
    with node.database.reader() as session:
        playbook = get_playbook(session, name=name, newest=True)
    return dry_run(playbook=playbook, event=body.event)


@router.post("/runs/{run_id}/cancel")
def cancel(node: NodeDep, principal: Changer, run_id: str, body: CancelIn) -> dict[str, Any]:
    """End a run as cancelled (audited ``playbook.run.cancel``)."""
    with node.database.transaction() as session:
        return cancel_run(session, clock=node.clock, actor=principal.actor, run_id=run_id,
                          reason=body.reason)  # fmt: skip


@router.get("/approvals")
def approvals(
    node: NodeDep,
    principal: Staff,
    status: str | None = Query("pending", max_length=20),
    everyone: bool = Query(False, alias="all", description="Also those you cannot vote on."),
) -> list[dict[str, Any]]:
    """Approvals the caller may vote on (``all``: every one, for oversight)."""
    with node.database.reader() as session:
        return list_approvals(session, user=principal.name, roles=principal.roles,
                              status=status or None, everyone=everyone)  # fmt: skip


def _vote(node: NodeDep, principal: Principal, approval_id: str, decision: str,
          body: VoteIn) -> dict[str, Any]:  # fmt: skip
    with node.database.transaction() as session:
        return decide(session, clock=node.clock, actor_user=principal.name,
                      actor_roles=principal.roles, approval_id=approval_id, decision=decision,
                      comment=body.comment)  # fmt: skip


@router.post("/approvals/{approval_id}/approve")
def approve(node: NodeDep, principal: Staff, approval_id: str, body: VoteIn) -> dict[str, Any]:
    """Vote to approve (the approval is granted once its quorum approves)."""
    return _vote(node, principal, approval_id, "approve", body)


@router.post("/approvals/{approval_id}/deny")
def deny(node: NodeDep, principal: Staff, approval_id: str, body: VoteIn) -> dict[str, Any]:
    """Vote to deny (one deny refuses the request)."""
    return _vote(node, principal, approval_id, "deny", body)
