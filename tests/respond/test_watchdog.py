"""The watchdog: over-deadline runs end timed out, approvals escalate once then expire, dead
leases are freed; a hanging webhook costs a timed-out attempt, not a stuck run."""

from __future__ import annotations

import time

from run_samples import Recorder, action, advance_clock, approval_step, playbook, registry, start
from sqlalchemy import select
from webhook_server import webhook_receiver

from watchkeeper.bus import Event
from watchkeeper.node import Node
from watchkeeper.respond.playbook_model import Step
from watchkeeper.respond.run_models import PlaybookRun
from watchkeeper.respond.run_views import run_document
from watchkeeper.respond.runner import run_due
from watchkeeper.respond.watchdog import cancel_run, run_watchdog
from watchkeeper.security import AuditEntry


def _doc(node: Node, run_id: str) -> dict[str, object]:
    with node.database.reader() as session:
        return run_document(session, run_id=run_id)


def test_over_deadline_runs_end_timed_out(node: Node) -> None:
    book = playbook(Step(id="long", kind="wait", seconds=7200), timeout=600)
    run_id = start(node, book)
    run_due(node=node, actions=registry(Recorder()))
    advance_clock(node, 601)
    report = run_watchdog(node=node)
    doc = _doc(node, run_id)
    assert report.timed_out == 1
    assert doc["status"] == "timed-out" and "deadline" in str(doc["reason"])
    steps = doc["steps"]
    assert isinstance(steps, list) and steps[0]["status"] == "timed-out"


def test_approval_escalates_once_then_expires_and_the_step_fails(node: Node) -> None:
    recorder = Recorder()
    book = playbook(
        approval_step("ok", roles=("responder",), ttl_seconds=100, escalate_to=("admin",)),
        action("go"),
    )
    run_id = start(node, book)
    run_due(node=node, actions=registry(recorder))
    advance_clock(node, 101)
    assert run_watchdog(node=node).escalated == 1
    assert run_watchdog(node=node).escalated == 0  # once
    with node.database.reader() as session:
        escalations = list(session.scalars(select(Event).where(
            Event.type == "playbook.approval.escalated")))  # fmt: skip
    assert escalations and escalations[0].payload["escalate_to"] == ["admin"]
    advance_clock(node, 101)
    assert run_watchdog(node=node).expired == 1
    run_due(node=node, actions=registry(recorder))
    doc = _doc(node, run_id)
    assert doc["status"] == "failed" and "approval timed out" in str(doc["reason"])
    assert recorder.calls == []
    with node.database.reader() as session:
        audited = set(session.scalars(select(AuditEntry.action)))
    assert {"playbook.approval.escalated", "playbook.approval.expired"} <= audited


def test_hanging_webhook_times_out_and_the_run_fails(node: Node) -> None:
    with webhook_receiver(hang=True) as receiver:
        book = playbook(action("notify", "notify_webhook", url=receiver.url, payload={},
                               timeout_seconds=0.5, retries=1, retry_delay_seconds=1))  # fmt: skip
        run_id = start(node, book)
        began = time.monotonic()
        run_due(node=node)
        advance_clock(node, 2)
        run_due(node=node)
        elapsed = time.monotonic() - began
    doc = _doc(node, run_id)
    assert doc["status"] == "failed", doc
    assert "after 2 attempts" in str(doc["reason"]) and "timed out" in str(doc["reason"])
    steps = doc["steps"]
    assert isinstance(steps, list) and steps[0]["status"] == "timed-out"
    assert elapsed < 5


def test_cancel_and_dead_leases(node: Node) -> None:
    book = playbook(Step(id="long", kind="wait", seconds=7200))
    run_id = start(node, book)
    run_due(node=node, actions=registry(Recorder()))
    other = start(node, book, event={"seq": 5, "type": "t"})
    with node.database.transaction() as session:
        run = session.get_one(PlaybookRun, other)
        run.lease_owner, run.lease_until = "dead", node.clock.now()
    advance_clock(node, 1)
    assert run_watchdog(node=node).leases_freed == 1
    with node.database.transaction() as session:
        done = cancel_run(session, clock=node.clock, actor="user:ann", run_id=run_id,
                          reason="false alarm")  # fmt: skip
    assert done["status"] == "cancelled" and "false alarm" in str(done["reason"])
    assert _doc(node, run_id)["steps"][0]["status"] == "cancelled"  # type: ignore[index]
