"""A built-in playbook end to end: an escalation event starts alert-escalation through the
trigger subscriber; the run opens a case, waits for a responder's approval, blocks, notes."""

from __future__ import annotations

from pathlib import Path

from case_samples import seed
from sqlalchemy import select

from watchkeeper.detect.alert_views import escalate_alert
from watchkeeper.node import Node
from watchkeeper.respond.approvals import decide
from watchkeeper.respond.blocklist import list_blocks
from watchkeeper.respond.playbook_store import enable_playbook, sync_playbooks
from watchkeeper.respond.run_models import PlaybookRun
from watchkeeper.respond.run_views import run_document
from watchkeeper.respond.runner import run_due
from watchkeeper.respond.triggers import register, unregister


def test_alert_escalation_playbook(node: Node, tmp_path: Path) -> None:
    seeded = seed(node, tmp_path)
    with node.database.transaction() as session:
        sync_playbooks(session, clock=node.clock, actor="test")
        enable_playbook(session, clock=node.clock, actor="test", name="alert-escalation")
    register(node)
    try:
        with node.database.transaction() as session:
            escalate_alert(session, clock=node.clock, actor="user:det", alert_ids=[seeded.laptop],
                           title="Phishing domain on laptop-7", max_tlp=None)  # fmt: skip
        node.dispatcher.run_once()
    finally:
        unregister(node)
    run_due(node=node)
    with node.database.reader() as session:
        run_id = session.scalars(select(PlaybookRun.id)).one()
        doc = run_document(session, run_id=run_id)
    assert doc["status"] == "waiting", doc
    assert doc["requested_by"] == "user:det" and doc["case_id"]
    approval = doc["approvals"][0]
    assert "secure-login-portal.net" in approval["prompt"]
    with node.database.transaction() as session:
        decide(session, clock=node.clock, actor_user="ann", actor_roles=["responder"],
               approval_id=approval["id"], decision="approve", comment="")  # fmt: skip
    run_due(node=node)
    with node.database.reader() as session:
        doc = run_document(session, run_id=run_id)
        blocked = [entry["value"] for entry in list_blocks(session, now=node.clock.now())]
    assert doc["status"] == "completed", doc
    assert "secure-login-portal.net" in blocked
