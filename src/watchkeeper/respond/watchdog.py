"""The watchdog: no run hangs. Every run ends completed, failed, cancelled or timed out, with
a reason.

Each pass ends runs past their deadline (the playbook's ``timeout_seconds``), escalates
approvals past their time to live once (to the ``escalate_to`` roles, with a
``playbook.approval.escalated`` event for notifiers; the clock restarts) and then expires them
(the runner fails the step "approval timed out" and applies its ``on_error``), and frees leases
of processes that died, so the runner resumes their runs. ``cancel_run`` ends a run by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.node import Node
from watchkeeper.respond.approvals import wake
from watchkeeper.respond.run_models import RUN_ACTIVE, PlaybookApproval, PlaybookRun
from watchkeeper.respond.run_views import run_summary
from watchkeeper.respond.runner import finish_run
from watchkeeper.security import record_change

WATCHDOG_ACTOR = "system:playbook-watchdog"
MAX_REASON = 2000


@dataclass
class WatchdogReport:
    """What one pass did."""

    timed_out: int = 0
    escalated: int = 0
    expired: int = 0
    leases_freed: int = 0

    def document(self) -> dict[str, int]:
        """As JSON."""
        return dict(self.__dict__)


def watch(session: Session, *, clock: Clock, limit: int = 500) -> WatchdogReport:
    """One pass over overdue runs, approvals and leases (in the caller's transaction)."""
    now = clock.now()
    report = WatchdogReport()
    overdue = session.scalars(
        select(PlaybookRun)
        .where(PlaybookRun.status.in_(RUN_ACTIVE), PlaybookRun.deadline_at <= now)
        .limit(limit)
    )
    for run in overdue:
        timeout = run.definition.get("timeout_seconds")
        finish_run(session, run=run, status="timed-out", now=now, actor=WATCHDOG_ACTOR,
                   reason=f"run deadline passed ({timeout} s after it was created); "
                   "ended by the watchdog")  # fmt: skip
        report.timed_out += 1
    approvals = session.scalars(
        select(PlaybookApproval)
        .where(PlaybookApproval.status == "pending", PlaybookApproval.expires_at <= now)
        .limit(limit)
    )
    for approval in approvals:
        subject = f"approval:{approval.id}"
        if approval.escalate_to and not approval.escalated:
            approval.escalated = True
            approval.expires_at = now + timedelta(seconds=approval.ttl_seconds)
            record_change(session, clock=clock, actor=WATCHDOG_ACTOR,
                          action="playbook.approval.escalated", subject=subject,
                          detail={"run_id": approval.run_id, "escalate_to": approval.escalate_to,
                                  "prompt": approval.prompt,
                                  "expires_at": approval.expires_at.isoformat()})  # fmt: skip
            report.escalated += 1
            continue
        approval.status, approval.decided_at = "expired", now
        record_change(
            session, clock=clock, actor=WATCHDOG_ACTOR, action="playbook.approval.expired",
            subject=subject, detail={"run_id": approval.run_id, "escalated": approval.escalated},
        )  # fmt: skip
        wake(session, run_id=approval.run_id, clock=clock)
        report.expired += 1
    stale = session.scalars(
        select(PlaybookRun)
        .where(PlaybookRun.status.in_(RUN_ACTIVE), PlaybookRun.lease_until < now)
        .limit(limit)
    )
    for run in stale:
        # Its process died (or stalled past the lease): make the run due for the next taker.
        run.lease_owner = run.lease_until = None
        report.leases_freed += 1
    return report


def run_watchdog(*, node: Node) -> WatchdogReport:
    """One watchdog pass in a transaction of its own."""
    with node.database.transaction() as session:
        return watch(session, clock=node.clock)


def cancel_run(
    session: Session, *, clock: Clock, actor: str, run_id: str, reason: str
) -> dict[str, Any]:
    """End a run as cancelled, with ``reason`` (audited as ``playbook.run.cancel``)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason: say why the run is cancelled", field="reason")
    run = session.get(PlaybookRun, run_id)
    if run is None:
        raise NotFound(f"no playbook run {run_id}", run_id=run_id)
    if run.status not in RUN_ACTIVE:
        raise Conflict(f"run {run_id} already ended ({run.status})", run_id=run_id)
    record_change(session, clock=clock, actor=actor, action="playbook.run.cancel",
                  subject=f"run:{run_id}", detail={"reason": reason[:MAX_REASON]})  # fmt: skip
    finish_run(session, run=run, status="cancelled", now=clock.now(), actor=actor,
               reason=f"cancelled by {actor}: {reason[:MAX_REASON]}")  # fmt: skip
    return run_summary(run)
