"""Dry run: what a playbook would do with an event, without doing any of it.

A person about to enable a playbook wants to see, on a real event, which steps would run, with
which inputs, which of them change things outside, and who would be asked to approve. The walk
follows the runner's rules (``when``, conditions and their jumps, ``foreach`` items, parallel
branches) but calls no action: an action's output is a placeholder (``<output of block>``), and
anything computed from a placeholder is shown as unknown rather than guessed. A condition that
depends on one is shown as unknown and the walk follows its ``then`` branch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, NoReturn, Protocol

from watchkeeper.errors import InvalidInput
from watchkeeper.respond.expressions import Deferred, evaluate, json_safe, render, run_context
from watchkeeper.respond.playbook_model import Playbook, Step

MAX_ITEMS_SHOWN = 5
MAX_ROWS = 500


class ActionInfo(Protocol):
    """What a dry run needs of a registered action (the runner's ``ActionSpec`` fits)."""

    @property
    def side_effects(self) -> bool: ...


class Pending:
    """A value a dry run cannot know (an action's output): any attribute or item of it is
    pending too; using it for a decision raises :class:`Deferred`."""

    def __init__(self, label: str) -> None:
        self._label = label

    def __getattr__(self, name: str) -> Pending:
        if name.startswith("_"):
            raise AttributeError(name)
        return Pending(f"{self._label}.{name}")

    def __getitem__(self, key: Any) -> Pending:
        return Pending(f"{self._label}[{key!r}]")

    def __str__(self) -> str:
        return f"<{self._label}>"

    __repr__ = __str__

    def _unknown(self, *args: Any) -> NoReturn:
        raise Deferred(self._label)

    __bool__ = __len__ = __iter__ = __contains__ = _unknown
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _unknown
    __hash__ = object.__hash__

    def _combined(self, *args: Any) -> Pending:
        return Pending(self._label)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _combined
    __truediv__ = __floordiv__ = __mod__ = __neg__ = _combined


class _Stop(Exception):
    pass


@dataclass
class _Walk:
    playbook: Playbook
    event: dict[str, Any]
    actions: Mapping[str, ActionInfo] | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)

    def context(self, steps: Mapping[str, Any], item: Any, in_foreach: bool) -> dict[str, Any]:
        run = {
            "id": "dry-run",
            "playbook": self.playbook.name,
            "version": self.playbook.version,
            "requested_by": "dry-run",
            "case_id": Pending("case of the run"),
            "started_at": None,
        }
        return run_context(
            event=self.event,
            vars=self.vars,
            steps=steps,
            run=run,
            item=item,
            in_foreach=in_foreach,
        )

    def row(self, step: Step, *, path: str, depth: int, item: Any) -> dict[str, Any]:
        if len(self.rows) >= MAX_ROWS:
            raise _Stop(f"more than {MAX_ROWS} steps shown; a dry run stops here")
        row: dict[str, Any] = {
            "id": step.id,
            "path": path,
            "kind": step.kind,
            "name": step.name,
            "where": str(step.where) if step.where else None,
            "depth": depth,
            "would_run": True,
            "why": "",
            "side_effects": False,
        }
        if step.action:
            row["action"] = step.action
        if item is not None:
            row["item"] = json_safe(item)
        self.rows.append(row)
        return row

    def sequence(
        self,
        steps: Sequence[Step],
        outputs: dict[str, Any],
        *,
        prefix: str,
        depth: int,
        item: Any = None,
        in_foreach: bool = False,
    ) -> None:
        index = {step.id: position for position, step in enumerate(steps)}
        position = 0
        while position < len(steps):
            step = steps[position]
            row = self.row(step, path=prefix + step.id, depth=depth, item=item)
            context = self.context(outputs, item, in_foreach)
            try:
                jump = self.step(
                    step,
                    row,
                    context,
                    outputs,
                    prefix=prefix,
                    depth=depth,
                    item=item,
                    in_foreach=in_foreach,
                )
            except _Continue as going:  # on_error continue / goto:<id>
                target = str(going)
                jump = target.removeprefix("goto:").strip() if target.startswith("goto:") else None
            if jump is not None and jump in index:
                for skipped in steps[position + 1 : index[jump]]:
                    skip = self.row(skipped, path=prefix + skipped.id, depth=depth, item=item)
                    skip.update(would_run=False, why=f"jumped over (to {jump})")
                position = index[jump]
            else:
                position += 1

    def step(
        self,
        step: Step,
        row: dict[str, Any],
        context: dict[str, Any],
        outputs: dict[str, Any],
        *,
        prefix: str,
        depth: int,
        item: Any,
        in_foreach: bool,
    ) -> str | None:
        """Describe one step in ``row``; returns a jump target, if any."""
        publish = step.output or step.id
        if step.when:
            try:
                holds = bool(evaluate(step.when, context=context, where=step.where))
            except Deferred as pending:
                row["why"] = f"when depends on {pending} (unknown in a dry run); "
            except InvalidInput as exc:
                return self.fail(step, row, f"when: {exc.message}")
            else:
                if not holds:
                    row.update(would_run=False, why=f"when is false: {step.when}")
                    return None
                row["why"] = "when holds; "
        if step.kind == "action":
            return self.action(step, row, context, outputs, publish)
        if step.kind == "condition":
            try:
                result: bool | None = bool(
                    evaluate(step.expression or "false", context=context, where=step.where)
                )
            except Deferred as pending:
                result = None
                row["why"] += f"depends on {pending} (unknown in a dry run); showing then"
            except InvalidInput as exc:
                return self.fail(step, row, exc.message)
            target = step.then if result in (True, None) else step.otherwise
            if result is not None:
                row["why"] += f"{step.expression} is {str(result).lower()}"
            row["next"] = target or "(next step)"
            outputs[publish] = {"result": result, "next": target}
            return target
        if step.kind == "approval" and step.approval is not None:
            spec = step.approval
            try:
                prompt = render(spec.prompt, context=context, where=step.where)
            except Deferred:
                prompt = spec.prompt
            except InvalidInput as exc:
                prompt = f"(prompt fails: {exc.message})"
            row["approval"] = {
                "quorum": spec.quorum,
                "roles": list(spec.roles),
                "users": list(spec.users),
                "ttl_seconds": spec.ttl_seconds,
                "escalate_to": list(spec.escalate_to),
                "prompt": json_safe(prompt),
            }
            who = ", ".join([*spec.roles, *spec.users])
            row["why"] += f"waits for {spec.quorum} approval(s) from {who} (not the requester)"
            outputs[publish] = Pending(f"approval of {step.id}")
            return None
        if step.kind == "wait":
            row["why"] += f"waits {step.seconds or 0:g} s"
            outputs[publish] = {"waited_seconds": step.seconds or 0}
            return None
        if step.kind == "foreach":
            self.foreach(step, row, context, outputs, prefix=prefix, depth=depth)
            outputs[publish] = Pending(f"results of {step.id}")
            return None
        row["why"] += f"runs {len(step.steps)} branch(es) side by side"
        inner = dict(outputs)
        self.sequence_parallel(
            step,
            inner,
            prefix=f"{prefix}{step.id}.",
            depth=depth + 1,
            item=item,
            in_foreach=in_foreach,
        )
        outputs[publish] = Pending(f"output of {step.id}")
        return None

    def sequence_parallel(
        self,
        step: Step,
        outputs: dict[str, Any],
        *,
        prefix: str,
        depth: int,
        item: Any,
        in_foreach: bool,
    ) -> None:
        for branch in step.steps:
            self.sequence(
                [branch],
                dict(outputs),
                prefix=prefix,
                depth=depth,
                item=item,
                in_foreach=in_foreach,
            )

    def action(
        self,
        step: Step,
        row: dict[str, Any],
        context: dict[str, Any],
        outputs: dict[str, Any],
        publish: str,
    ) -> str | None:
        name = step.action or ""
        row["action"] = name
        side_effects = step.side_effects
        if self.actions is not None:
            info = self.actions.get(name)
            if info is None:
                return self.fail(step, row, f"unknown action {name!r}")
            side_effects = side_effects or info.side_effects
        row["side_effects"] = side_effects
        rendered: dict[str, Any] = {}
        for key, value in step.inputs.items():
            try:
                rendered[key] = render(value, context=context, where=step.where)
            except Deferred as pending:
                rendered[key] = value
                row["why"] += f"input {key} depends on {pending} (shown unrendered); "
            except InvalidInput as exc:
                return self.fail(step, row, f"inputs.{key}: {exc.message}")
        row["inputs"] = json_safe(rendered)
        row["why"] += f"would run {name}" + (" (side effects)" if side_effects else "")
        inputs = row["inputs"]
        if name == "set_variable" and isinstance(inputs, dict) and "name" in inputs:
            # the one action whose effect later steps read; it touches only the run
            self.vars[str(inputs["name"])] = inputs.get("value")
        outputs[publish] = Pending(f"output of {step.id}")
        return None

    def foreach(
        self,
        step: Step,
        row: dict[str, Any],
        context: dict[str, Any],
        outputs: dict[str, Any],
        *,
        prefix: str,
        depth: int,
    ) -> None:
        try:
            items: Any = evaluate(step.items or "[]", context=context, where=step.where)
            if isinstance(items, Pending):
                raise Deferred(str(items).strip("<>"))
            if not isinstance(items, list | tuple):
                self.fail(step, row, f"items: expected a list, got {type(items).__name__}")
            items = list(items)
        except Deferred as pending:
            row["why"] += f"items come from {pending} (unknown now); the body once for one item"
            row["items"] = None
            self.sequence(
                step.steps,
                dict(outputs),
                prefix=f"{prefix}{step.id}[?].",
                depth=depth + 1,
                item=Pending("item"),
                in_foreach=True,
            )
            return
        except InvalidInput as exc:
            self.fail(step, row, f"items: {exc.message}")
        row["items"] = len(items)
        shown = items[:MAX_ITEMS_SHOWN]
        row["why"] += f"{len(items)} item(s)" + (
            f"; the first {len(shown)} shown" if len(items) > len(shown) else ""
        )
        if not items:
            row["would_run"] = False
        for number, value in enumerate(shown):
            self.sequence(
                step.steps,
                dict(outputs),
                prefix=f"{prefix}{step.id}[{number}].",
                depth=depth + 1,
                item=value,
                in_foreach=True,
            )

    def fail(self, step: Step, row: dict[str, Any], reason: str) -> NoReturn:
        row.update(would_run=False, why=row["why"] + f"would fail: {reason}", fails=True)
        if step.on_error == "fail":
            raise _Stop(f"step {step.id} would fail, so the run would fail here")
        # continue / goto: the dry run simply goes on in order (a goto target is later)
        raise _Continue(step.on_error)


class _Continue(Exception):
    pass


def trigger_matches(playbook: Playbook, event: Mapping[str, Any]) -> tuple[bool | None, str]:
    """Whether ``event`` would start ``playbook`` (None: the filter could not be evaluated)."""
    trigger = playbook.trigger
    if trigger is None:
        return False, "no trigger: manual runs only"
    kind = str(event.get("type") or "")
    if not fnmatchcase(kind, trigger.event):
        return False, f"event type {kind or '(none)'!r} does not match {trigger.event!r}"
    if not trigger.filter:
        return True, f"event type matches {trigger.event!r}"
    context = run_context(event=event, vars=playbook.vars)
    try:
        holds = bool(evaluate(trigger.filter, context=context, where=trigger.where))
    except (InvalidInput, Deferred) as exc:
        return None, f"filter fails: {exc}"
    return holds, f"filter is {str(holds).lower()}: {trigger.filter}"


def dry_run(
    *,
    playbook: Playbook,
    event: Mapping[str, Any],
    actions: Mapping[str, ActionInfo] | None = None,
) -> list[dict[str, Any]]:
    """One row per step the run would reach (first row: the trigger), each with ``would_run``
    (True, False or None when unknown) and ``why``, rendered ``inputs``, ``side_effects`` and,
    for approvals, who and how many. No action is called and nothing is written."""
    document = dict(event)
    if not document.get("type") and playbook.trigger is not None:
        document["type"] = playbook.trigger.event
    walk = _Walk(playbook=playbook, event=document, actions=actions, vars=dict(playbook.vars))
    matched, why = trigger_matches(playbook, document)
    if not matched:
        why += "; a manual run would still start it"
    walk.rows.append(
        {
            "id": "(trigger)",
            "kind": "trigger",
            "depth": 0,
            "would_run": matched,
            "why": why,
            "side_effects": False,
        }
    )
    try:
        walk.sequence(playbook.steps, {}, prefix="", depth=1)
    except _Stop as stop:
        walk.rows.append(
            {
                "id": "(end)",
                "kind": "end",
                "depth": 0,
                "would_run": False,
                "why": str(stop),
                "side_effects": False,
            }
        )
    return walk.rows


def dry_run_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`dry_run` for a terminal."""
    lines = []
    for row in rows:
        mark = {True: "RUN ", False: "skip", None: "??? "}[row.get("would_run")]
        indent = "  " * int(row.get("depth") or 0)
        what = row["kind"] + (f" {row['action']}" if row.get("action") else "")
        effects = " [side effects]" if row.get("side_effects") else ""
        where = f"  ({row['where']})" if row.get("where") else ""
        lines.append(f"{mark} {indent}{row['id']}: {what}{effects}{where}")
        if row.get("why"):
            lines.append(f"     {indent}  {row['why']}")
        for key, value in (row.get("inputs") or {}).items():
            lines.append(f"     {indent}  {key} = {_short(value)}")
        approval = row.get("approval")
        if approval:
            lines.append(f"     {indent}  prompt: {_short(approval['prompt'])}")
    return "\n".join(lines)


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
