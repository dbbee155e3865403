"""One decision of a run: walk the playbook over the step rows and say what happens next.

The walker is re-entrant: it reads where every step stands (``playbook_steps``) and returns one
move; the runner commits that move and walks again. So a run resumed by another process, after
a crash or a lease takeover, continues from exactly what was committed. Moves:

- ``Ended`` / ``Failed``: the block (or the whole run) is over, with a goto target or reason;
- ``Blocked``: nothing to do until ``until`` (a wait, a retry delay) or until someone acts
  (an approval: ``until`` is None);
- ``Progressed``: a transition was made in this transaction (a condition chose a branch,
  a step was skipped...): commit it and walk again;
- ``Act``: an action step is due, its inputs rendered; the runner calls it.

Goto (a condition's then/otherwise, ``on_error: goto:<id>``) targets a later step of the same
block; a goto backwards fails the block, so a run cannot loop for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.bus import emit
from watchkeeper.core import new_id
from watchkeeper.errors import InvalidInput
from watchkeeper.respond.expressions import evaluate, json_safe, render, run_context
from watchkeeper.respond.playbook_model import Step
from watchkeeper.respond.run_models import PlaybookApproval, PlaybookRun, PlaybookStep

MAX_ITEMS = 1000


@dataclass(frozen=True)
class Ended:
    goto: str | None = None


@dataclass(frozen=True)
class Failed:
    reason: str


@dataclass(frozen=True)
class Blocked:
    until: datetime | None


@dataclass(frozen=True)
class Progressed:
    pass


@dataclass(frozen=True)
class Act:
    step: Step
    row_id: int
    path: str
    inputs: dict[str, Any]


Move = Ended | Failed | Blocked | Progressed | Act


@dataclass(frozen=True)
class Scope:
    """Where a block runs: its path prefixes (outermost first) and the foreach item."""

    prefixes: tuple[str, ...] = ("",)
    item: Any = None
    in_foreach: bool = False

    @property
    def prefix(self) -> str:
        return self.prefixes[-1]

    def inner(self, prefix: str, **changes: Any) -> Scope:
        return Scope(
            prefixes=(*self.prefixes, prefix),
            item=changes.get("item", self.item),
            in_foreach=changes.get("in_foreach", self.in_foreach),
        )


def _where(step: Step) -> str:
    return f" ({step.where})" if step.where else ""


class Walk:
    """The walker of one run inside one transaction."""

    def __init__(
        self, session: Session, run: PlaybookRun, *, now: datetime, approval_ttl: float
    ) -> None:
        self.session = session
        self.run = run
        self.now = now
        self.approval_ttl = approval_ttl
        self.rows = {
            row.path: row
            for row in session.scalars(select(PlaybookStep).where(PlaybookStep.run_id == run.id))
        }

    # -- context -----------------------------------------------------------------------------
    def context(self, scope: Scope) -> dict[str, Any]:
        """What expressions see at ``scope``: outputs of the steps visible from there."""
        outputs: dict[str, Any] = {}
        for prefix in scope.prefixes:
            for path, row in self.rows.items():
                if row.status != "completed" or not path.startswith(prefix):
                    continue
                rest = path[len(prefix) :]
                if "." not in rest and "[" not in rest:
                    outputs[row.publish] = row.output
        run = self.run
        return run_context(
            event=run.event,
            vars=run.vars,
            steps=outputs,
            run={
                "id": run.id, "playbook": run.playbook, "version": run.version,
                "requested_by": run.requested_by, "case_id": run.case_id,
                "started_at": run.started_at.isoformat() if run.started_at else None,
            },
            item=scope.item,
            in_foreach=scope.in_foreach,
        )  # fmt: skip

    # -- rows --------------------------------------------------------------------------------
    def _row(self, step: Step, path: str, *, status: str, **values: Any) -> PlaybookStep:
        row = PlaybookStep(
            run_id=self.run.id, path=path, kind=step.kind, publish=step.output or step.id,
            status=status, attempt=1, idempotency_key=f"{self.run.id}:{path}",
            started_at=self.now, **values,
        )  # fmt: skip
        self.session.add(row)
        self.session.flush()
        self.rows[path] = row
        return row

    def _end(
        self, row: PlaybookStep, status: str, *, output: Any = None, error: str | None = None
    ) -> Progressed:
        row.status = status
        row.output = json_safe(output) if output is not None else row.output
        row.error = error
        row.finished_at = self.now
        row.wake_at = None
        return Progressed()

    def _fail_new(self, step: Step, path: str, error: str) -> Progressed:
        row = self.rows.get(path) or self._row(step, path, status="running")
        return self._end(row, "failed", error=error)

    # -- blocks ------------------------------------------------------------------------------
    def sequence(self, steps: tuple[Step, ...], scope: Scope) -> Move:
        """The next move of a block of steps run in order."""
        index = {step.id: i for i, step in enumerate(steps)}
        i = 0
        while i < len(steps):
            move = self.step(steps[i], scope)
            if not isinstance(move, Ended):
                return move
            if move.goto is None:
                i += 1
                continue
            target = index.get(move.goto)
            if target is None:
                return Failed(f"step {scope.prefix}{steps[i].id}: goto {move.goto}: no such step "
                              f"in this block{_where(steps[i])}")  # fmt: skip
            if target <= i:
                return Failed(f"step {scope.prefix}{steps[i].id}: goto {move.goto} goes "
                              f"backwards; loops are not allowed{_where(steps[i])}")  # fmt: skip
            i = target
        return Ended()

    def step(self, step: Step, scope: Scope) -> Move:
        """The next move of one step (``Ended`` once it is over)."""
        path = scope.prefix + step.id
        row = self.rows.get(path)
        if row is not None and row.status in ("completed", "skipped"):
            next_id = row.output.get("next") if step.kind == "condition" and row.output else None
            return Ended(next_id)
        if row is not None and row.status in ("failed", "timed-out", "cancelled"):
            return self._on_error(step, path, row)
        if row is None and step.when:
            try:
                holds = evaluate(step.when, context=self.context(scope), where=step.where)
            except InvalidInput as exc:
                return self._fail_new(step, path, f"when: {exc.message}")
            if not holds:
                self._row(step, path, status="skipped", finished_at=self.now,
                          output={"skipped": "when was false"})  # fmt: skip
                return Progressed()
        kind = step.kind
        if kind == "action":
            return self._action(step, path, row, scope)
        if kind == "condition":
            return self._condition(step, path, scope)
        if kind == "wait":
            return self._wait(step, path, row)
        if kind == "approval":
            return self._approval(step, path, row, scope)
        if kind == "foreach":
            return self._foreach(step, path, row, scope)
        if kind == "parallel":
            return self._parallel(step, path, row, scope)
        return self._fail_new(step, path, f"unknown step kind {kind!r}{_where(step)}")

    def _on_error(self, step: Step, path: str, row: PlaybookStep) -> Move:
        if step.on_error == "continue":
            return Ended()
        if step.on_error.startswith("goto:"):
            return Ended(step.on_error.removeprefix("goto:").strip())
        return Failed(f"step {path} {row.status}: {row.error or 'no reason recorded'}")

    # -- kinds -------------------------------------------------------------------------------
    def _action(self, step: Step, path: str, row: PlaybookStep | None, scope: Scope) -> Move:
        if row is None:
            row = self._row(step, path, status="pending")
        elif row.wake_at is not None and row.wake_at > self.now:
            return Blocked(row.wake_at)
        try:
            inputs = render(dict(step.inputs), context=self.context(scope), where=step.where)
        except InvalidInput as exc:
            return self._end(row, "failed", error=f"inputs: {exc.message}")
        return Act(step=step, row_id=row.id, path=path, inputs=json_safe(inputs))

    def _condition(self, step: Step, path: str, scope: Scope) -> Move:
        try:
            result = bool(evaluate(step.expression or "false", context=self.context(scope),
                                   where=step.where))  # fmt: skip
        except InvalidInput as exc:
            return self._fail_new(step, path, exc.message)
        target = step.then if result else step.otherwise
        self._row(step, path, status="completed", finished_at=self.now,
                  output={"result": result, "next": target})  # fmt: skip
        return Progressed()

    def _wait(self, step: Step, path: str, row: PlaybookStep | None) -> Move:
        if row is None:
            until = self.now + timedelta(seconds=step.seconds or 0)
            row = self._row(step, path, status="waiting", wake_at=until)
        assert row.wake_at is not None
        if row.wake_at <= self.now:
            return self._end(row, "completed", output={"waited_seconds": step.seconds or 0})
        return Blocked(row.wake_at)

    def _approval(self, step: Step, path: str, row: PlaybookStep | None, scope: Scope) -> Move:
        if row is None:
            spec = step.approval
            if spec is None:
                return self._fail_new(step, path, f"approval step without approval{_where(step)}")
            ttl = spec.ttl_seconds or self.approval_ttl
            try:
                prompt = str(render(spec.prompt or step.name or step.id,
                                    context=self.context(scope), where=step.where))  # fmt: skip
            except InvalidInput as exc:
                return self._fail_new(step, path, f"prompt: {exc.message}")
            approval = PlaybookApproval(
                id=new_id(), run_id=self.run.id, step_path=path, quorum=spec.quorum,
                roles=list(spec.roles), users=list(spec.users),
                escalate_to=list(spec.escalate_to), prompt=prompt[:2000],
                requested_by=self.run.requested_by, created_at=self.now, ttl_seconds=ttl,
                expires_at=self.now + timedelta(seconds=ttl), escalated=False, status="pending",
            )  # fmt: skip
            self.session.add(approval)
            self._row(step, path, status="waiting", output={"approval_id": approval.id})
            emit(self.session, type="playbook.approval.requested",
                 actor=f"playbook:{self.run.playbook}", subject=f"approval:{approval.id}",
                 occurred_at=self.now,
                 payload={"approval_id": approval.id, "run_id": self.run.id, "step": path,
                          "quorum": spec.quorum, "roles": list(spec.roles),
                          "users": list(spec.users), "prompt": approval.prompt,
                          "expires_at": approval.expires_at.isoformat()})  # fmt: skip
            return Blocked(None)
        approval_id = (row.output or {}).get("approval_id")
        found = self.session.get(PlaybookApproval, approval_id) if approval_id else None
        if found is None:
            return self._end(row, "failed", error="approval record missing")
        approval = found
        if approval.status == "approved":
            return self._end(
                row, "completed", output={"approval_id": approval.id, "approved": True}
            )
        if approval.status == "denied":
            return self._end(row, "failed", error="approval denied")
        if approval.status == "expired":
            return self._end(row, "timed-out", error="approval timed out")
        return Blocked(None)

    def _foreach(self, step: Step, path: str, row: PlaybookStep | None, scope: Scope) -> Move:
        if row is None:
            try:
                items = evaluate(step.items or "[]", context=self.context(scope), where=step.where)
            except InvalidInput as exc:
                return self._fail_new(step, path, f"items: {exc.message}")
            if isinstance(items, dict) or not isinstance(items, list | tuple):
                return self._fail_new(step, path, f"items: expected a list, got "
                                      f"{type(items).__name__}{_where(step)}")  # fmt: skip
            if len(items) > MAX_ITEMS:
                return self._fail_new(step, path, f"items: {len(items)} items, at most {MAX_ITEMS}")
            self._row(step, path, status="running", output={"items": json_safe(list(items))})
            return Progressed()
        items = (row.output or {}).get("items", [])
        for i, item in enumerate(items):
            inner = scope.inner(f"{path}[{i}].", item=item, in_foreach=True)
            move = self.sequence(step.steps, inner)
            if isinstance(move, Failed):
                return self._end(row, "failed", error=f"item {i}: {move.reason}")
            if not isinstance(move, Ended):
                return move
        results = [self._outputs(f"{path}[{i}].") for i in range(len(items))]
        return self._end(row, "completed", output={"items": items, "results": results})

    def _parallel(self, step: Step, path: str, row: PlaybookStep | None, scope: Scope) -> Move:
        if row is None:
            self._row(step, path, status="running")
            return Progressed()
        inner = scope.inner(f"{path}.")
        waits: list[datetime | None] = []
        failures: list[str] = []
        for branch in step.steps:
            move = self.step(branch, inner)
            if isinstance(move, Act | Progressed):
                return move
            if isinstance(move, Blocked):
                waits.append(move.until)
            elif isinstance(move, Failed):
                failures.append(move.reason)
        if waits:
            known = [until for until in waits if until is not None]
            return Blocked(min(known) if known else None)
        if failures:
            return self._end(row, "failed", error="; ".join(failures))
        return self._end(row, "completed", output=self._outputs(f"{path}."))

    def _outputs(self, prefix: str) -> dict[str, Any]:
        found = {}
        for path, row in self.rows.items():
            rest = path[len(prefix) :] if path.startswith(prefix) else None
            if rest and "." not in rest and "[" not in rest and row.status == "completed":
                found[row.publish] = row.output
        return found
