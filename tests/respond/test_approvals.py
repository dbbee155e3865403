"""Approvals: n-of-m by role or name, never the requester, one vote each, any deny refuses,
every vote audited."""

from __future__ import annotations

from typing import Any

import pytest
from run_samples import Recorder, action, approval_step, playbook, registry, start
from sqlalchemy import select

from watchkeeper.errors import Conflict, Forbidden
from watchkeeper.node import Node
from watchkeeper.respond.approvals import decide, list_approvals
from watchkeeper.respond.run_views import run_document
from watchkeeper.respond.runner import run_due
from watchkeeper.security import AuditEntry


def _waiting(node: Node, **approval: Any) -> tuple[str, str, Recorder]:
    recorder = Recorder()
    book = playbook(approval_step("ok", **approval), action("go"))
    run_id = start(node, book, actor="user:rita")
    run_due(node=node, actions=registry(recorder))
    with node.database.reader() as session:
        doc = run_document(session, run_id=run_id)
    assert doc["status"] == "waiting" and recorder.calls == []
    return run_id, doc["approvals"][0]["id"], recorder


def _vote(node: Node, approval_id: str, user: str, decision: str = "approve",
          roles: tuple[str, ...] = ("responder",)) -> dict[str, Any]:  # fmt: skip
    with node.database.transaction() as session:
        return decide(session, clock=node.clock, actor_user=user, actor_roles=roles,
                      approval_id=approval_id, decision=decision, comment="ok")  # fmt: skip


def test_two_of_three_quorum(node: Node) -> None:
    run_id, approval_id, recorder = _waiting(node, quorum=2, users=("ann", "bob", "cy"))
    assert _vote(node, approval_id, "ann")["status"] == "pending"
    with pytest.raises(Conflict, match="already voted"):
        _vote(node, approval_id, "ann")
    run_due(node=node, actions=registry(recorder))
    assert recorder.calls == []  # one of two is not enough
    assert _vote(node, approval_id, "bob")["status"] == "approved"
    run_due(node=node, actions=registry(recorder))
    with node.database.reader() as session:
        doc = run_document(session, run_id=run_id)
        actions = list(session.scalars(select(AuditEntry.action)))
    assert doc["status"] == "completed" and len(recorder.calls) == 1
    assert actions.count("playbook.approval.vote") == 2
    assert "playbook.approval.granted" in actions


def test_requester_cannot_approve_and_strangers_cannot_vote(node: Node) -> None:
    _, approval_id, _ = _waiting(node, quorum=1, roles=("responder",), users=("rita",))
    with pytest.raises(Forbidden, match="cannot approve their own request"):
        _vote(node, approval_id, "rita")
    with pytest.raises(Forbidden, match="not an approver"):
        _vote(node, approval_id, "eve", roles=("analyst", "admin"))
    with node.database.reader() as session:
        mine = list_approvals(session, user="sam", roles=["responder"])
        theirs = list_approvals(session, user="eve", roles=["analyst"])
        own = list_approvals(session, user="rita", roles=["responder"])
    assert [a["id"] for a in mine] == [approval_id] and mine[0]["can_vote"]
    assert theirs == []
    assert own[0]["can_vote"] is False


def test_a_deny_refuses_and_fails_the_step(node: Node) -> None:
    run_id, approval_id, recorder = _waiting(node, quorum=2, roles=("responder",))
    _vote(node, approval_id, "ann")
    assert _vote(node, approval_id, "bob", "deny")["status"] == "denied"
    with pytest.raises(Conflict, match="already denied"):
        _vote(node, approval_id, "cy")
    run_due(node=node, actions=registry(recorder))
    with node.database.reader() as session:
        doc = run_document(session, run_id=run_id)
    assert doc["status"] == "failed" and "approval denied" in doc["reason"]
    assert recorder.calls == []
