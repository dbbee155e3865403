"""The demo's response step: the analyst escalates the campaign's domain alerts, the built-in
``alert-escalation`` playbook opens a case and asks a responder to approve blocking; the duty
officer approves and the run blocks the domains. Everything goes through the real dispatcher,
triggers, runner and approvals, as a serving node would run them.
"""

from __future__ import annotations

from sqlalchemy import select

from watchkeeper.detect.alert_views import escalate_alert
from watchkeeper.detect.models import Alert
from watchkeeper.node import Node
from watchkeeper.respond.approvals import decide, list_approvals
from watchkeeper.respond.blocklist import list_blocks
from watchkeeper.respond.escalations import register as register_escalations
from watchkeeper.respond.playbook_store import sync_playbooks
from watchkeeper.respond.run_models import PlaybookRun
from watchkeeper.respond.runner import run_due
from watchkeeper.respond.triggers import register as register_triggers

ANALYST = "amira"
DUTY = ("duty", ("poc-officer", "responder"))
PLAYBOOK = "alert-escalation"


def _deliver(node: Node) -> None:
    """Deliver events until none is left (a run's events may start more work)."""
    for _ in range(20):
        report = node.dispatcher.run_once()
        if not report.delivered:
            return


def respond_to_alerts(node: Node, *, actor: str) -> str:
    """Escalate, run, approve, run again; returns what happened."""
    with node.database.transaction() as session:
        sync_playbooks(session, clock=node.clock, actor=actor)
    register_triggers(node)
    register_escalations(node)
    with node.database.transaction() as session:
        domains = list(
            session.scalars(
                select(Alert.id).where(
                    Alert.kind == "indicator", Alert.value_kind == "domain", Alert.case_id.is_(None)
                )
            )
        )
        if domains:
            escalate_alert(
                session,
                clock=node.clock,
                actor=f"user:{ANALYST}",
                alert_ids=domains,
                title="Demo campaign C2 domain queried by workstations",
                max_tlp=None,
            )
    _deliver(node)
    run_due(node=node)
    user, roles = DUTY
    with node.database.reader() as session:
        pending = [a for a in list_approvals(session, user=user, roles=roles) if a.get("can_vote")]
    for approval in pending:
        with node.database.transaction() as session:
            decide(
                session,
                clock=node.clock,
                actor_user=user,
                actor_roles=roles,
                approval_id=approval["id"],
                decision="approve",
                comment="Demo: approved by the duty officer.",
            )
    run_due(node=node)
    _deliver(node)
    with node.database.reader() as session:
        runs = list(session.scalars(select(PlaybookRun).where(PlaybookRun.playbook == PLAYBOOK)))
        blocked = sorted({entry["value"] for entry in list_blocks(session, now=node.clock.now())})
    done = [run for run in runs if run.status == "completed"]
    assert done, f"no {PLAYBOOK} run completed: {[(r.status, r.reason) for r in runs]}"
    assert blocked, "nothing was blocked"
    return (
        f"{len(domains)} domain alerts escalated by {ANALYST}; playbook {PLAYBOOK}: "
        f"{len(done)} run(s) completed after {len(pending)} approval(s) by {user}; "
        f"blocked: {', '.join(blocked[:4])}"
    )
