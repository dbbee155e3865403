"""Checks over a whole parsed playbook: unique step ids, forward jumps within one list, and
expressions that name only steps that have run by then."""

from __future__ import annotations

from watchkeeper.errors import InvalidInput
from watchkeeper.respond.expressions import CONTEXT_NAMES, check
from watchkeeper.respond.playbook_grammar import (
    Level,
    Parser,
    suggest,
)
from watchkeeper.respond.playbook_model import Step


def check_ids(parser: Parser) -> None:
    """Step ids and output names are unique across the file, nested steps included: both
    name what later expressions read under ``steps.``."""
    seen: dict[str, Step] = {}
    in_file_order = sorted(
        parser.all_steps, key=lambda pair: pair[0].where.line if pair[0].where else 0
    )
    for step, _ in in_file_order:
        for name in dict.fromkeys((step.id, step.output or step.id)):
            if not name:
                continue
            first = seen.get(name)
            if first is not None and first is not step:
                line = step.where.line if step.where else 1
                first_line = first.where.line if first.where else 1
                parser.error(
                    line,
                    f"steps.{step.id}.id",
                    f"{name!r} is already used at line {first_line} "
                    "(step ids and outputs are unique in a playbook)",
                )
            else:
                seen[name] = step


def _targets(step: Step) -> list[tuple[str, str]]:
    found = [("then", step.then), ("otherwise", step.otherwise)]
    if step.on_error.startswith("goto:"):
        found.append(("on_error", step.on_error[len("goto:") :].strip()))
    return [(key, target) for key, target in found if target is not None]


def check_jumps(parser: Parser, level: Level) -> None:
    """Jumps go forward within one list of steps (the runner fails a backward one), so a run
    always reaches the end of its list: no loop can spin a worker."""
    index = {step.id: position for position, step in enumerate(level.steps)}
    everywhere = {step.id for step, _ in parser.all_steps}
    for position, step in enumerate(level.steps):
        line = step.where.line if step.where else 1
        for key, target in _targets(step):
            if target == step.id:
                parser.error(line, f"steps.{step.id}.{key}", "a step cannot jump to itself")
            elif target in index and index[target] < position:
                parser.error(
                    line,
                    f"steps.{step.id}.{key}",
                    f"{target!r} comes earlier; jumps go forward only (no loops)",
                )
            elif target in everywhere and target not in index:
                parser.error(
                    line,
                    f"steps.{step.id}.{key}",
                    f"{target!r} is not in the same list of steps (jumps stay within one level)",
                )
            elif target not in everywhere:
                parser.error(
                    line,
                    f"steps.{step.id}.{key}",
                    f"no step {target!r}{suggest(target, everywhere)}",
                )


def check_expressions(parser: Parser) -> None:
    """Every expression names only steps that have run by then (an earlier step of its list
    or of the lists around it), so a run never fails on a result that cannot exist yet."""
    published = {step.output or step.id for step, _ in parser.all_steps}
    for expression in parser.expressions:
        source, path, where, kind = (
            expression.source,
            expression.path,
            expression.where,
            expression.kind,
        )
        in_foreach = expression.in_foreach
        names = {"event", "vars"} if kind == "trigger" else set(CONTEXT_NAMES)
        if not in_foreach:
            names.discard("item")
        try:
            usage = check(
                source,
                where=where,
                names=names,
                kind="template" if kind == "template" else "expression",
            )
        except InvalidInput as exc:
            parser.error(where.line, path, exc.message.split(": ", 1)[-1])
            continue
        visible = {
            step.output or step.id
            for level, count in expression.scope
            for step in level.steps[:count]
        }
        for name in sorted(usage.steps - visible):
            if name in published:
                problem = (
                    f"steps.{name} is not available here: only earlier steps of the "
                    "same list and of the lists around it have run"
                )
            else:
                problem = f"steps.{name}: no step or output {name!r}{suggest(name, published)}"
            parser.error(where.line, path, problem)
