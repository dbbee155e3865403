"""``playbook run`` for real, ``approvals list|approve|deny``, ``runs``, ``block export``."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Run

PLAYBOOK = """\
name: approve-me
title: Block after two approvals
description: Asks two responders, then blocks the value of the event.
steps:
  - id: ok
    approval:
      quorum: 2
      roles: [responder]
      prompt: "Block {{ event.payload.value }}?"
  - id: block
    action: block
    inputs:
      values: ["{{ event.payload.value }}"]
      reason: approved by two
"""


def test_run_approve_and_export(run: Run, data_dir: Path, tmp_path: Path) -> None:
    (data_dir / "playbooks").mkdir(parents=True)
    (data_dir / "playbooks" / "approve-me.yaml").write_text(PLAYBOOK)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"type": "manual", "payload": {"value": "evil.example"}}))
    for name in ("ann", "bob", "cy"):
        assert run("user", "add", name, "--role", "responder").code == 0
    assert run("user", "add", "eve", "--role", "analyst").code == 0

    started = run("playbook", "run", "approve-me", "--event", str(event), "--json")
    assert started.code == 0, started.err
    document = json.loads(started.out)
    assert document["status"] == "waiting"
    approval = document["approvals"][0]
    assert approval["prompt"] == "Block evil.example?"

    listed = run("approvals", "list", "--as", "ann", "--json")
    assert [a["id"] for a in json.loads(listed.out)] == [approval["id"]]
    assert json.loads(run("approvals", "list", "--as", "eve", "--json").out) == []

    refused = run("approvals", "approve", approval["id"], "--as", "eve")
    assert refused.code == 1 and "not an approver" in refused.err
    assert run("approvals", "approve", approval["id"], "--as", "ann", "--comment", "yes").code == 0
    again = run("approvals", "approve", approval["id"], "--as", "ann")
    assert again.code == 1 and "already voted" in again.err
    done = run("approvals", "approve", approval["id"], "--as", "bob", "--json")
    assert json.loads(done.out)["status"] == "approved"

    advanced = run("runs", "advance", document["id"], "--json")
    assert json.loads(advanced.out)["status"] == "completed", advanced.out
    listed_runs = json.loads(run("runs", "list", "--json").out)
    assert [r["status"] for r in listed_runs] == ["completed"]
    shown = run("runs", "show", document["id"])
    assert shown.code == 0 and "block" in shown.out

    rpz = run("block", "export", "--format", "rpz")
    assert rpz.code == 0 and "evil.example CNAME ." in rpz.out and "SOA" in rpz.out
    plain = run("block", "export", "--format", "plain")
    assert plain.out == "evil.example\n"


def test_requester_and_cancel(run: Run, data_dir: Path, tmp_path: Path) -> None:
    (data_dir / "playbooks").mkdir(parents=True)
    (data_dir / "playbooks" / "approve-me.yaml").write_text(
        PLAYBOOK.replace("roles: [responder]", "users: [me, you]").replace("quorum: 2", "quorum: 1")
    )
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"type": "manual", "payload": {"value": "evil.example"}}))
    document = json.loads(run("playbook", "run", "approve-me", "--event", str(event),
                              "--json").out)  # fmt: skip
    approval = document["approvals"][0]["id"]
    requester = document["requested_by"].split(":", 1)[1]
    own = run("approvals", "approve", approval, "--as", requester)
    assert own.code == 1 and "cannot approve their own request" in own.err
    cancelled = run("runs", "cancel", document["id"], "--reason", "not needed")
    assert cancelled.code == 0
    shown = json.loads(run("runs", "show", document["id"], "--json").out)
    assert shown["status"] == "cancelled" and "not needed" in shown["reason"]
    assert shown["approvals"][0]["status"] == "expired"
