"""Runs as documents for the API, the CLI and the pages: a run with its steps and approvals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.respond.run_models import (
    RUN_STATUSES,
    ApprovalVote,
    PlaybookApproval,
    PlaybookRun,
    PlaybookStep,
)

MAX_RUNS = 500


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def run_summary(run: PlaybookRun) -> dict[str, Any]:
    """The run without its steps."""
    return {
        "id": run.id, "playbook": run.playbook, "version": run.version, "status": run.status,
        "reason": run.reason, "event_seq": run.event_seq, "event_type": run.event.get("type"),
        "case_id": run.case_id, "requested_by": run.requested_by,
        "created_at": _iso(run.created_at), "started_at": _iso(run.started_at),
        "deadline_at": _iso(run.deadline_at), "finished_at": _iso(run.finished_at),
        "wake_at": _iso(run.wake_at), "lease_owner": run.lease_owner,
        "lease_until": _iso(run.lease_until),
        "duration_seconds": _seconds(run.started_at or run.created_at, run.finished_at),
    }  # fmt: skip


def step_document(row: PlaybookStep) -> dict[str, Any]:
    """One step's state."""
    return {
        "path": row.path, "kind": row.kind, "status": row.status, "attempt": row.attempt,
        "idempotency_key": row.idempotency_key, "inputs": row.inputs, "output": row.output,
        "error": row.error, "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at), "wake_at": _iso(row.wake_at),
        "duration_seconds": _seconds(row.started_at, row.finished_at),
    }  # fmt: skip


def approval_document(session: Session, approval: PlaybookApproval) -> dict[str, Any]:
    """An approval with its votes."""
    votes = session.scalars(
        select(ApprovalVote)
        .where(ApprovalVote.approval_id == approval.id)
        .order_by(ApprovalVote.id)
    )
    run = session.get(PlaybookRun, approval.run_id)
    return {
        "id": approval.id, "run_id": approval.run_id, "playbook": run.playbook if run else None,
        "step": approval.step_path, "prompt": approval.prompt, "quorum": approval.quorum,
        "roles": approval.roles, "users": approval.users, "escalate_to": approval.escalate_to,
        "requested_by": approval.requested_by, "created_at": _iso(approval.created_at),
        "expires_at": _iso(approval.expires_at), "escalated": approval.escalated,
        "status": approval.status, "decided_at": _iso(approval.decided_at),
        "votes": [{"user": v.user, "decision": v.decision, "comment": v.comment,
                   "at": _iso(v.at)} for v in votes],
    }  # fmt: skip


def run_document(session: Session, *, run_id: str) -> dict[str, Any]:
    """A run with its steps (in the order they started) and approvals; ``NotFound``."""
    run = session.get(PlaybookRun, run_id)
    if run is None:
        raise NotFound(f"no playbook run {run_id}", run_id=run_id)
    steps = session.scalars(
        select(PlaybookStep).where(PlaybookStep.run_id == run_id).order_by(PlaybookStep.id)
    )
    approvals = session.scalars(
        select(PlaybookApproval).where(PlaybookApproval.run_id == run_id)
        .order_by(PlaybookApproval.created_at)
    )  # fmt: skip
    return {
        **run_summary(run),
        "event": run.event,
        "vars": run.vars,
        "steps": [step_document(row) for row in steps],
        "approvals": [approval_document(session, a) for a in approvals],
    }


def list_runs(
    session: Session,
    *,
    status: Sequence[str] | None = None,
    playbook: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest runs first, optionally of some statuses or one playbook."""
    unknown = [s for s in status or () if s not in RUN_STATUSES]
    if unknown:
        raise InvalidInput(
            f"status: unknown {', '.join(unknown)}; expected {', '.join(RUN_STATUSES)}",
            field="status",
        )
    query = select(PlaybookRun).order_by(PlaybookRun.created_at.desc(), PlaybookRun.id)
    if status:
        query = query.where(PlaybookRun.status.in_(list(status)))
    if playbook:
        query = query.where(PlaybookRun.playbook == playbook)
    return [run_summary(run) for run in session.scalars(query.limit(min(limit, MAX_RUNS)))]
