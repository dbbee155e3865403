"""The runner: steps in order with templated inputs, conditions, waits, foreach, parallel,
retries, timeouts and on_error, concurrency limits, leases."""

from __future__ import annotations

from typing import Any

from run_samples import Recorder, action, advance_clock, playbook, registry, start
from sqlalchemy import select

from watchkeeper.node import Node
from watchkeeper.respond.playbook_model import Step
from watchkeeper.respond.run_models import ActionReceipt, PlaybookRun
from watchkeeper.respond.run_views import run_document
from watchkeeper.respond.runner import run_due


def _doc(node: Node, run_id: str) -> dict[str, Any]:
    with node.database.reader() as session:
        return run_document(session, run_id=run_id)


def test_steps_run_in_order_with_templated_inputs(node: Node) -> None:
    recorder = Recorder()
    book = playbook(
        action("first", host="{{ event.payload.host }}"),
        action("second", "look", previous="{{ steps.first.echo.host }}-x"),
        Step(id="choose", kind="condition", expression="event.payload.score > 50",
             then="high", otherwise="low"),
        action("low", note="low"),
        action("high", note="high"),
    )  # fmt: skip
    run_id = start(
        node, book, event={"seq": 7, "type": "t", "payload": {"host": "h1", "score": 80}}
    )
    report = run_due(node=node, actions=registry(recorder))
    doc = _doc(node, run_id)
    assert doc["status"] == "completed", doc
    assert doc["reason"] == "all steps ended"
    assert report.ended == {"completed": 1}
    assert [c.get("host") or c.get("previous") or c.get("note") for c in recorder.calls] == [
        "h1", "h1-x", "high",
    ]  # fmt: skip
    paths = {s["path"]: s["status"] for s in doc["steps"]}
    assert paths == {"first": "completed", "second": "completed", "choose": "completed",
                     "high": "completed"}  # fmt: skip
    with node.database.reader() as session:  # side effects leave receipts; plain lookups none
        keys = set(session.scalars(select(ActionReceipt.key)))
    assert keys == {f"{run_id}:first", f"{run_id}:high"}


def test_an_event_starts_a_playbook_once(node: Node) -> None:
    book = playbook(action("a"))
    first = start(node, book, event={"seq": 11, "type": "t"})
    assert start(node, book, event={"seq": 11, "type": "t"}) == first
    assert start(node, book, event={"seq": 12, "type": "t"}) != first


def test_retries_then_failure_with_reason(node: Node) -> None:
    recorder = Recorder(fail_times=10)
    book = playbook(action("flaky", retries=2, retry_delay_seconds=30), action("never"))
    run_id = start(node, book)
    actions = registry(recorder)
    run_due(node=node, actions=actions)
    doc = _doc(node, run_id)
    assert doc["status"] == "waiting" and doc["steps"][0]["attempt"] == 2
    assert "attempt 1: RuntimeError: flaky failure 1" in doc["steps"][0]["error"]
    run_due(node=node, actions=actions)  # the retry waits its delay, durably
    assert len(recorder.calls) == 1
    for _ in range(2):
        advance_clock(node, 31)
        run_due(node=node, actions=actions)
    doc = _doc(node, run_id)
    assert len(recorder.calls) == 3
    assert doc["status"] == "failed"
    assert "after 3 attempts: RuntimeError: flaky failure 3" in doc["reason"]
    assert [s["path"] for s in doc["steps"]] == ["flaky"]


def test_on_error_continue_and_goto(node: Node) -> None:
    recorder = Recorder(fail_times=2)
    book = playbook(
        action("a", on_error="continue"),
        action("b", on_error="goto:d"),
        action("c"),
        action("d", marker="d"),
    )
    run_id = start(node, book)
    run_due(node=node, actions=registry(recorder))
    doc = _doc(node, run_id)
    assert doc["status"] == "completed"
    assert {s["path"]: s["status"] for s in doc["steps"]} == {
        "a": "failed", "b": "failed", "d": "completed",
    }  # fmt: skip


def test_wait_is_durable(node: Node) -> None:
    recorder = Recorder()
    book = playbook(Step(id="pause", kind="wait", seconds=600), action("after"))
    run_id = start(node, book)
    run_due(node=node, actions=registry(recorder))
    assert _doc(node, run_id)["status"] == "waiting"
    advance_clock(node, 599)
    run_due(node=node, actions=registry(recorder))
    assert recorder.calls == []
    advance_clock(node, 2)
    run_due(node=node, actions=registry(recorder))
    assert _doc(node, run_id)["status"] == "completed" and len(recorder.calls) == 1


def test_foreach_and_parallel_paths(node: Node) -> None:
    recorder = Recorder()
    book = playbook(
        Step(id="each_ip", kind="foreach", items="event.payload.ips",
             steps=(action("block", ip="{{ item }}"),)),
        Step(id="both", kind="parallel", steps=(
            action("left", side="l"),
            Step(id="slow", kind="wait", seconds=10),
        )),
        action("last", seen="{{ steps.each_ip.results | length }}"),
    )  # fmt: skip
    run_id = start(node, book, event={"type": "t", "payload": {"ips": ["10.0.0.1", "10.0.0.2"]}})
    actions = registry(recorder)
    run_due(node=node, actions=actions)
    doc = _doc(node, run_id)
    assert doc["status"] == "waiting"
    advance_clock(node, 11)
    run_due(node=node, actions=actions)
    doc = _doc(node, run_id)
    assert doc["status"] == "completed", doc
    keys = [c["key"] for c in recorder.calls]
    assert keys == [f"{run_id}:each_ip[0].block", f"{run_id}:each_ip[1].block",
                    f"{run_id}:both.left", f"{run_id}:last"]  # fmt: skip
    assert recorder.calls[-1]["seen"] == 2  # one {{ expression }} keeps its native type


def test_concurrency_limit_queues(node: Node) -> None:
    recorder = Recorder()
    book = playbook(Step(id="pause", kind="wait", seconds=5), action("a"), max_runs=2)
    ids = [start(node, book, event={"seq": n, "type": "t"}) for n in range(4)]
    with node.database.reader() as session:
        statuses = [session.get_one(PlaybookRun, i).status for i in ids]
    assert statuses == ["running", "running", "queued", "queued"]
    actions = registry(recorder)
    run_due(node=node, actions=actions)
    assert [_doc(node, i)["status"] for i in ids] == ["waiting", "waiting", "queued", "queued"]
    advance_clock(node, 6)
    run_due(node=node, actions=actions)  # the first two end; the queued ones get their slots
    run_due(node=node, actions=actions)
    assert [_doc(node, i)["status"] for i in ids] == ["completed", "completed", "waiting",
                                                      "waiting"]  # fmt: skip
    advance_clock(node, 6)
    run_due(node=node, actions=actions)
    assert all(_doc(node, i)["status"] == "completed" for i in ids)


def test_lease_keeps_two_runners_apart_and_lapses(node: Node) -> None:
    recorder = Recorder()
    book = playbook(action("a"))
    run_id = start(node, book)
    with node.database.transaction() as session:  # a process took it, then died
        run = session.get_one(PlaybookRun, run_id)
        run.lease_owner, run.lease_until = "dead-host:1", node.clock.now().replace(year=2027)
    report = run_due(node=node, actions=registry(recorder), owner="me")
    assert report.claimed == 0 and recorder.calls == []
    with node.database.transaction() as session:
        session.get_one(PlaybookRun, run_id).lease_until = node.clock.now()
    advance_clock(node, 1)
    report = run_due(node=node, actions=registry(recorder), owner="me")
    assert report.claimed == 1 and len(recorder.calls) == 1
    assert _doc(node, run_id)["status"] == "completed"
