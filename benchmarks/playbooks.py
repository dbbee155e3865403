"""Playbook runner: trigger-to-first-action latency, and many concurrent runs that all end.

One process, SQLite in a temporary data dir, the system clock. Figures, measured in this run:
- latency: an event is committed to the log, the dispatcher hands it to the trigger
  subscriber (which reads the active playbooks from the store and starts a run in the
  delivery transaction), the runner leases the run and calls its first action; the time from
  before the event's commit to the action's call, p50 and p95 over WK_BENCH_EVENTS events
  (goal p50 < 200 ms). Baseline: the same event committed and delivered to a subscriber that
  does nothing (the floor of the event log itself), p50.
- concurrency: WK_BENCH_CONCURRENT runs of a playbook with a 1 s durable wait and then a
  side-effecting action are started at once; the runner and the watchdog pass until every run
  has ended or 120 s went by. Reported: completed, stuck (goal 0) and wall seconds; baseline:
  the wall seconds of one such run (its 1 s wait plus overhead).
Environment: WK_BENCH_EVENTS (default 200), WK_BENCH_CONCURRENT (default 1000).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from watchkeeper.bus import emit
from watchkeeper.config import load_settings
from watchkeeper.node import Node
from watchkeeper.respond.actions import ActionContext, ActionSpec, default_actions
from watchkeeper.respond.playbook_store import enable_playbook, sync_playbooks
from watchkeeper.respond.run_models import RUN_ACTIVE, PlaybookRun
from watchkeeper.respond.runner import run_due, start_run
from watchkeeper.respond.triggers import register
from watchkeeper.respond.watchdog import run_watchdog

EVENTS = int(os.environ.get("WK_BENCH_EVENTS", "200"))
CONCURRENT = int(os.environ.get("WK_BENCH_CONCURRENT", "1000"))
LIMIT_SECONDS = 120.0

LATENCY = """\
name: bench-latency
title: First action as soon as the event lands
description: Marks the event.
trigger:
  event: bench.hit
  filter: event.payload.n >= 0
steps:
  - id: mark
    action: mark
    inputs: {n: "{{ event.payload.n }}"}
"""
CONCURRENCY = """\
name: bench-concurrent
title: Wait, then act
description: A durable wait and a side-effecting action.
max_concurrent_runs: {limit}
steps:
  - id: pause
    kind: wait
    duration: 1s
  - id: mark
    action: mark
    inputs: {{n: "{{{{ event.payload.n }}}}"}}
"""


class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int


def _line(metric: str, value: float, unit: str, baseline: float | None) -> None:
    print(json.dumps({
        "bench": "playbooks", "metric": metric, "value": round(value, 3), "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": round(value / baseline, 3) if baseline else None,
    }), flush=True)  # fmt: skip


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _node(data_dir: Path) -> Node:
    return Node(
        load_settings(data_dir=data_dir, respond_max_concurrent_runs=CONCURRENT + 10)
    ).start()


def _store(node: Node, folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
    known = set(default_actions().names()) | {"mark"}
    with node.database.transaction() as session:
        report = sync_playbooks(session, clock=node.clock, actor="bench", paths=[folder],
                                builtin=False, known_actions=known)  # fmt: skip
        if report.errors:
            raise SystemExit(f"playbook not loaded: {report.errors[0].message}")
        enable_playbook(session, clock=node.clock, actor="bench", name=name)


def latency(root: Path) -> None:
    node = _node(root / "latency")
    marks: dict[int, float] = {}
    actions = default_actions()

    def mark(ctx: ActionContext, inputs: MarkIn) -> dict[str, int]:
        marks.setdefault(inputs.n, time.perf_counter())
        return {"n": inputs.n}

    actions.register(ActionSpec("mark", MarkIn, mark, side_effects=True, local=True))
    _store(node, root / "latency-books", "bench-latency", LATENCY)

    def deliver_floor(kind: str, count: int) -> list[float]:
        took = []
        for n in range(count):
            began = time.perf_counter()
            with node.database.transaction() as session:
                emit(session, type=kind, actor="bench", payload={"n": n}, clock=node.clock)
            node.dispatcher.run_once()
            took.append(time.perf_counter() - began)
        return took

    node.dispatcher.subscribe("bench-floor", lambda s, e: None, types=["bench.floor"])
    floor = deliver_floor("bench.floor", EVENTS)
    node.dispatcher.unsubscribe("bench-floor")
    register(node)
    took = []
    for n in range(EVENTS):
        began = time.perf_counter()
        with node.database.transaction() as session:
            emit(session, type="bench.hit", actor="bench", payload={"n": n}, clock=node.clock)
        node.dispatcher.run_once()
        run_due(node=node, actions=actions)
        if n not in marks:
            raise SystemExit(f"event {n}: no first action")
        took.append(marks[n] - began)
    base = _percentile(floor, 0.5) * 1000
    _line("trigger_to_first_action_p50", _percentile(took, 0.5) * 1000, "ms", base)
    _line("trigger_to_first_action_p95", _percentile(took, 0.95) * 1000, "ms", base)
    node.close()


def _wall(node: Node, count: int, offset: int) -> tuple[float, int, int]:
    from watchkeeper.respond.playbook_store import get_playbook

    with node.database.transaction() as session:
        playbook = get_playbook(session, name="bench-concurrent")
        ids = [start_run(session, clock=node.clock, actor="bench", playbook=playbook,
                         event={"seq": offset + n, "type": "bench", "payload": {"n": n}})
               for n in range(count)]  # fmt: skip
    began = time.perf_counter()
    while time.perf_counter() - began < LIMIT_SECONDS:
        run_watchdog(node=node)
        report = run_due(node=node, limit=count, actions=_mark_actions())
        if not _active(node, ids):
            break
        if report.claimed == 0:
            time.sleep(0.05)
    wall = time.perf_counter() - began
    with node.database.reader() as session:
        done = session.scalar(select(func.count()).select_from(PlaybookRun).where(
            PlaybookRun.id.in_(ids), PlaybookRun.status == "completed"))  # fmt: skip
    return wall, int(done or 0), _active(node, ids)


def _active(node: Node, ids: list[str]) -> int:
    with node.database.reader() as session:
        return int(session.scalar(select(func.count()).select_from(PlaybookRun).where(
            PlaybookRun.id.in_(ids), PlaybookRun.status.in_(RUN_ACTIVE))) or 0)  # fmt: skip


def _mark_actions() -> Any:
    actions = default_actions()
    actions.register(ActionSpec("mark", MarkIn, lambda ctx, inputs: {"n": inputs.n},
                                side_effects=True, local=True))  # fmt: skip
    return actions


def concurrency(root: Path) -> None:
    node = _node(root / "concurrency")
    _store(node, root / "concurrency-books", "bench-concurrent",
           CONCURRENCY.format(limit=CONCURRENT))  # fmt: skip
    single, _, _ = _wall(node, 1, 10_000_000)
    wall, completed, stuck = _wall(node, CONCURRENT, 0)
    _line("concurrent_runs_completed", completed, "runs", CONCURRENT)
    _line("concurrent_runs_stuck", stuck, "runs", None)
    _line("concurrent_runs_wall", wall, "s", single)
    if stuck:
        print(f"{stuck} runs did not end", file=sys.stderr)
    node.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="wk-bench-playbooks-") as folder:
        root = Path(folder)
        latency(root)
        concurrency(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
