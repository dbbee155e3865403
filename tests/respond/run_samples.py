"""Helpers of the runner tests: playbooks built from the dataclasses, recording test actions."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from watchkeeper.core import FixedClock
from watchkeeper.node import Node
from watchkeeper.respond.actions import ActionContext, ActionRegistry, ActionSpec, default_actions
from watchkeeper.respond.playbook_model import Approval, Playbook, Step
from watchkeeper.respond.runner import start_run


class AnyIn(BaseModel):
    model_config = ConfigDict(extra="allow")


@dataclass
class Recorder:
    """Actions that record their calls; ``fail_times`` makes the first calls raise."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    fail_times: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, ctx: ActionContext, inputs: AnyIn) -> dict[str, Any]:
        with self.lock:
            self.calls.append({"key": ctx.idempotency_key, **inputs.model_dump()})
            if len(self.calls) <= self.fail_times:
                raise RuntimeError(f"flaky failure {len(self.calls)}")
        return {"echo": inputs.model_dump(), "call": len(self.calls)}


def registry(recorder: Recorder, *, local: bool = True) -> ActionRegistry:
    """The built-ins plus ``record`` (side effects, local or external) and ``look`` (none)."""
    actions = default_actions()
    actions.register(ActionSpec("record", AnyIn, recorder.run, side_effects=True, local=local))
    actions.register(ActionSpec("look", AnyIn, recorder.run, side_effects=False, local=True))
    return actions


def playbook(*steps: Step, name: str = "pb", max_runs: int = 10, timeout: float = 3600.0,
             status: str = "active", trigger: Any = None) -> Playbook:  # fmt: skip
    return Playbook(
        name=name, title=name, description="", trigger=trigger, steps=steps,
        version=f"v-{name}", status=status,  # type: ignore[arg-type]
        max_concurrent_runs=max_runs, timeout_seconds=timeout,
    )  # fmt: skip


STEP_FIELDS = {"retries", "retry_delay_seconds", "timeout_seconds", "on_error", "side_effects",
               "output", "when"}  # fmt: skip


def action(step_id: str, act: str = "record", /, **fields: Any) -> Step:
    """An action step; keyword arguments that are not Step fields become its inputs."""
    inputs = {k: v for k, v in fields.items() if k not in STEP_FIELDS}
    known = {k: v for k, v in fields.items() if k in STEP_FIELDS}
    return Step(id=step_id, kind="action", action=act, inputs=inputs, **known)


def approval_step(step_id: str, **fields: Any) -> Step:
    return Step(id=step_id, kind="approval", approval=Approval(**fields))


def start(node: Node, book: Playbook, *, event: dict[str, Any] | None = None,
          actor: str = "user:requester") -> str:  # fmt: skip
    with node.database.transaction() as session:
        return start_run(session, clock=node.clock, actor=actor, playbook=book,
                         event=event or {"type": "test", "payload": {}})  # fmt: skip


def advance_clock(node: Node, seconds: float) -> None:
    assert isinstance(node.clock, FixedClock)
    node.clock.advance(timedelta(seconds=seconds))
