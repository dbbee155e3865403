"""Kill -9 safety: a side-effecting step interrupted after its effect but before the commit
that records it happens once when another process resumes the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from run_samples import Recorder, action, advance_clock, playbook, registry, start
from sqlalchemy import func, select
from webhook_server import webhook_receiver

from watchkeeper.node import Node
from watchkeeper.respond.run_models import ActionReceipt, BlockEntry, PlaybookStep
from watchkeeper.respond.run_views import run_document
from watchkeeper.respond.runner import LEASE_SECONDS, _Runner, run_due

CHILD = """
import os, signal, sys
from pathlib import Path
from watchkeeper.respond.actions import ActionSpec, default_actions
from watchkeeper.respond.runner import run_due
from watchkeeper.testing import make_node

node = make_node(Path(sys.argv[1]), database_url=sys.argv[2])
actions = default_actions()
block = actions.get("block")
net = actions.get("notify_webhook")

def block_then_die(ctx, inputs):
    block.run(ctx, inputs)           # the effect is written in the step's transaction...
    os.kill(os.getpid(), signal.SIGKILL)   # ...and the process dies before it commits

def post_then_die(ctx, inputs):
    net.run(ctx, inputs)             # the webhook got the request...
    os.kill(os.getpid(), signal.SIGKILL)   # ...the step was never recorded

actions.register(ActionSpec("block", block.inputs, block_then_die, True, True), replace=True)
actions.register(ActionSpec("notify_webhook", net.inputs, post_then_die, True, False),
                 replace=True)
run_due(node=node, actions=actions, owner="doomed")
"""


def _kill_child(tmp_path: Path, node: Node) -> int:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script), str(node.data_dir), node.database.url],
        capture_output=True, timeout=60,
    )  # fmt: skip
    return done.returncode


def test_sigkill_after_a_local_effect_runs_it_once_on_resume(node: Node, tmp_path: Path) -> None:
    book = playbook(action("block", "block", values=["198.51.100.7"], reason="c2"))
    run_id = start(node, book)
    assert _kill_child(tmp_path, node) == -9
    with node.database.reader() as session:
        assert session.scalar(select(func.count()).select_from(BlockEntry)) == 0
        assert run_document(session, run_id=run_id)["lease_owner"] == "doomed"
    assert run_due(node=node, owner="heir").claimed == 0  # the dead process's lease holds...
    advance_clock(node, 300 + LEASE_SECONDS + 1)  # ...until it lapses (step timeout + margin)
    run_due(node=node, owner="heir")
    with node.database.reader() as session:
        doc = run_document(session, run_id=run_id)
        assert doc["status"] == "completed", doc
        assert session.scalar(select(func.count()).select_from(BlockEntry)) == 1
        assert session.scalar(select(func.count()).select_from(ActionReceipt)) == 1


def test_sigkill_after_a_webhook_call_resends_with_the_same_key(node: Node, tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        book = playbook(action("notify", "notify_webhook", url=receiver.url,
                               payload={"n": 1}, timeout_seconds=5))  # fmt: skip
        run_id = start(node, book)
        assert _kill_child(tmp_path, node) == -9
        assert len(receiver.requests) == 1
        advance_clock(node, 5 + 2 * LEASE_SECONDS)
        run_due(node=node, owner="heir")
        run_due(node=node, owner="heir")  # a later pass finds the receipt: no third call
    with node.database.reader() as session:
        doc = run_document(session, run_id=run_id)
    assert doc["status"] == "completed", doc
    keys = [r["headers"]["Idempotency-Key"] for r in receiver.requests]
    assert keys == [f"{run_id}:notify", f"{run_id}:notify"]
    assert len(receiver.effects) == 1  # the receiver dropped the resend: one effect


def test_receipt_prevents_a_second_call(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """The receipt commits but the process dies before the run moves on: no second call."""
    recorder = Recorder()
    actions = registry(recorder, local=False)
    run_id = start(node, playbook(action("once"), action("after", "look")))
    original = _Runner._complete
    calls = {"n": 0}

    def complete_then_crash(self: _Runner, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        calls["n"] += 1
        if calls["n"] == 1:
            with node.database.transaction() as session:  # step shows "running" again, as if
                row = session.scalars(select(PlaybookStep)).one()  # the commit was lost
                row.status = "running"
            raise SystemExit("killed")

    monkeypatch.setattr(_Runner, "_complete", complete_then_crash)
    with pytest.raises(SystemExit):
        run_due(node=node, actions=actions, owner="doomed")
    advance_clock(node, 400)
    run_due(node=node, actions=actions, owner="heir")
    with node.database.reader() as session:
        assert run_document(session, run_id=run_id)["status"] == "completed"
    assert [c["key"] for c in recorder.calls] == [f"{run_id}:once", f"{run_id}:after"]
