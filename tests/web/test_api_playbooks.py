"""The playbooks API: list, start a run, its steps, approvals by quorum, cancel, dry-run."""

from __future__ import annotations

from api_helpers import bearer
from fastapi.testclient import TestClient
from playbook_samples import store_playbook

from watchkeeper.node import Node
from watchkeeper.testing import issue_token

EVENT = {"event": {"type": "manual", "payload": {"value": "evil.example"}}}


def test_run_approve_by_quorum_and_cancel(client: TestClient, node: Node) -> None:
    store_playbook(node)
    rita = bearer(issue_token(node, name="rita", roles=["responder"]))
    ann = bearer(issue_token(node, name="ann", roles=["responder"]))
    bob = bearer(issue_token(node, name="bob", roles=["responder"]))
    auditor = bearer(issue_token(node, name="aud", roles=["auditor"]))

    listed = client.get("/api/v1/playbooks", headers=rita)
    assert listed.status_code == 200 and "approve-me" in [p["name"] for p in listed.json()]
    assert client.get("/api/v1/playbooks/runs", headers=auditor).status_code == 403

    dry = client.post("/api/v1/playbooks/approve-me/dry-run", headers=rita, json=EVENT)
    assert dry.status_code == 200 and dry.json()

    started = client.post("/api/v1/playbooks/approve-me/runs", headers=rita, json=EVENT)
    assert started.status_code == 201, started.text
    run = started.json()
    assert run["status"] == "waiting" and run["requested_by"] == "user:rita"
    approval_id = run["approvals"][0]["id"]

    inbox = client.get("/api/v1/playbooks/approvals", headers=ann).json()
    assert [a["id"] for a in inbox] == [approval_id] and inbox[0]["can_vote"]
    own = client.post(f"/api/v1/playbooks/approvals/{approval_id}/approve", headers=rita,
                      json={"comment": "mine"})  # fmt: skip
    assert own.status_code == 403 and "own request" in own.json()["detail"]
    first = client.post(f"/api/v1/playbooks/approvals/{approval_id}/approve", headers=ann,
                        json={})  # fmt: skip
    assert first.json()["status"] == "pending"
    second = client.post(f"/api/v1/playbooks/approvals/{approval_id}/approve", headers=bob,
                         json={"comment": "ok"})  # fmt: skip
    assert second.json()["status"] == "approved"

    from watchkeeper.respond.runner import run_due

    run_due(node=node)
    shown = client.get(f"/api/v1/playbooks/runs/{run['id']}", headers=rita).json()
    assert shown["status"] == "completed"
    assert [s["path"] for s in shown["steps"]] == ["ok", "block"]

    other = client.post("/api/v1/playbooks/approve-me/runs", headers=rita, json=EVENT).json()
    cancelled = client.post(f"/api/v1/playbooks/runs/{other['id']}/cancel", headers=rita,
                            json={"reason": "duplicate"})  # fmt: skip
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/playbooks/runs/{other['id']}/cancel", headers=rita,
                        json={"reason": "duplicate"})  # fmt: skip
    assert again.status_code == 409
    runs = client.get("/api/v1/playbooks/runs", params={"status": "cancelled"}, headers=rita)
    assert [r["id"] for r in runs.json()] == [other["id"]]
    assert client.get("/api/v1/playbooks/runs/nope", headers=rita).status_code == 404
    unknown = client.post("/api/v1/playbooks/nope/runs", headers=rita, json=EVENT)
    assert unknown.status_code == 404
