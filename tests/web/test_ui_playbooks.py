"""The playbook pages: runs, one run with its steps, the approvals inbox with CSRF-checked
votes, cancelling from the run page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from playbook_samples import store_playbook
from test_ui import csrf_of, log_in, make_user

from watchkeeper.node import Node
from watchkeeper.respond.runner import run_due, start_manual_run

EVENT = {"type": "manual", "payload": {"value": "evil.example"}}


def _start(node: Node) -> dict[str, object]:
    store_playbook(node)
    return start_manual_run(node=node, actor="user:rita", playbook_name="approve-me", event=EVENT)


def test_pages_need_a_session(client: TestClient, node: Node) -> None:
    for path in ("/ui/playbooks/runs", "/ui/approvals", "/ui/playbooks/runs/x"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    response = client.post("/ui/approvals/x/vote", data={"csrf": "x", "decision": "approve"},
                           follow_redirects=False)  # fmt: skip
    assert response.headers["location"] == "/ui/login"


def test_inbox_votes_and_run_page(client: TestClient, node: Node) -> None:
    run = _start(node)
    make_user(node, "ann", ["responder"])
    make_user(node, "bob", ["responder"])
    assert log_in(client, "ann").status_code == 303
    inbox = client.get("/ui/approvals")
    assert inbox.status_code == 200 and "Block evil.example?" in inbox.text
    approval_id = run["approvals"][0]["id"]  # type: ignore[index]
    stale = client.post(f"/ui/approvals/{approval_id}/vote",
                        data={"csrf": "stale", "decision": "approve"})  # fmt: skip
    assert stale.status_code == 403
    voted = client.post(f"/ui/approvals/{approval_id}/vote", follow_redirects=False,
                        data={"csrf": csrf_of(inbox.text), "decision": "approve",
                              "comment": "fine"})  # fmt: skip
    assert voted.status_code == 303 and "pending" in voted.headers["location"]
    assert "Approve</button>" not in client.get("/ui/approvals").text  # one vote each

    client.cookies.clear()
    assert log_in(client, "bob").status_code == 303
    inbox = client.get("/ui/approvals")
    client.post(f"/ui/approvals/{approval_id}/vote",
                data={"csrf": csrf_of(inbox.text), "decision": "approve"})  # fmt: skip
    run_due(node=node)
    page = client.get(f"/ui/playbooks/runs/{run['id']}")
    assert page.status_code == 200
    assert "completed" in page.text and "<code>block</code>" in page.text
    assert "ann: approve (fine)" in page.text
    runs = client.get("/ui/playbooks/runs")
    assert runs.status_code == 200 and "approve-me" in runs.text
    assert client.get("/ui/playbooks/runs?status=bogus").status_code == 200


def test_cancel_from_the_run_page(client: TestClient, node: Node) -> None:
    run = _start(node)
    make_user(node, "ann", ["responder"])
    log_in(client, "ann")
    page = client.get(f"/ui/playbooks/runs/{run['id']}")
    assert "Cancel the run" in page.text
    done = client.post(f"/ui/playbooks/runs/{run['id']}/cancel", follow_redirects=False,
                       data={"csrf": csrf_of(page.text), "reason": "false alarm"})  # fmt: skip
    assert done.status_code == 303
    page = client.get(f"/ui/playbooks/runs/{run['id']}")
    assert "cancelled by user:ann: false alarm" in page.text
    assert "Cancel the run" not in page.text
