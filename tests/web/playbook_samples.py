"""A playbook stored for the API and UI tests: two approvals by responders, then a block."""

from __future__ import annotations

from watchkeeper.node import Node
from watchkeeper.respond.playbook_store import sync_playbooks, user_playbook_dir

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


def store_playbook(node: Node) -> None:
    folder = user_playbook_dir(node.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "approve-me.yaml").write_text(PLAYBOOK)
    with node.database.transaction() as session:
        report = sync_playbooks(session, clock=node.clock, actor="test", paths=[folder],
                                builtin=False)  # fmt: skip
    assert not report.errors, report.errors
