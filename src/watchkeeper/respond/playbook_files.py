"""Playbook files: YAML in, validated :class:`Playbook` out, or every problem with file:line.

A playbook is edited by people under pressure; a mistake must be found when the file is loaded,
not halfway through an incident. So everything that can be checked without running is checked
here: keys (unknown ones with a "did you mean"), kinds, unique step ids, jump targets, loops,
action names, approvals, bounds, and every expression compiles in the sandbox and only names
what exists (``steps.<id>`` of a real step, ``item`` only inside a ``foreach``).

The format (see ``data/playbooks/*.yaml`` for complete examples)::

    name: phishing-report            # [a-z0-9][a-z0-9_.-]*, the stable name
    title: ...                       # default: the name
    description: ...
    trigger:                         # optional: without it, only manual runs
      event: respond.phishing_report # event type; a segment may be *
      filter: event.payload.path is defined
    vars: {home_country: XX}         # plain values, seen as vars.<name>
    max_concurrent_runs: 10
    timeout: 1d                      # the whole run
    steps:
      - id: extract                  # [a-z][a-z0-9_]*, unique in the playbook (nested too)
        action: extract_observables  # kind inferred from the key; or give kind: explicitly
        inputs: {path: "{{ event.payload.path }}"}
        side_effects: false          # default: true unless the action only reads
        when: ...                    # expression; the step is skipped when false
        retries: 2                   # 0..10, with retry_delay (default 5s)
        timeout: 30s                 # 1s..1d
        on_error: fail               # fail | continue | goto:<step id>
        output: found                # publish as steps.found (default: steps.<id>)

Kinds and their keys: action (``action``, ``inputs``), condition (``expression``, ``then``,
``otherwise``), approval (``approval: {quorum, roles, users, ttl, escalate_to, prompt}``), wait
(``duration``), foreach (``items``, ``steps``), parallel (``steps``). Durations are seconds or
``30s``/``5m``/``2h``/``1d``/``1w``.

Flow, as the loader checks it (and the runner follows): steps run in order; a condition goes
to ``then`` when its expression holds, else to ``otherwise`` (an absent branch means "the next
step"), and the run continues in order from there; ``on_error: goto:<id>`` jumps likewise.
Jumps go forward, within one list of steps: no loops. An expression may name ``steps.<x>``
only for a step that has run by then: an earlier one of its list or of the lists around it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from importlib import resources
from pathlib import Path
from typing import Any, cast

from watchkeeper.errors import InvalidInput
from watchkeeper.respond.expressions import has_markup
from watchkeeper.respond.playbook_checks import (
    check_expressions,
    check_ids,
    check_jumps,
)
from watchkeeper.respond.playbook_grammar import (
    APPROVAL_KEYS,
    COMMON_KEYS,
    EVENT_TYPE,
    KIND_KEYS,
    KINDS,
    MAX_CONCURRENT,
    MAX_DEPTH,
    MAX_QUORUM,
    MAX_RETRIES,
    MAX_STEPS,
    MAX_TITLE,
    NAME,
    READ_ONLY_ACTIONS,
    STANDARD_ACTIONS,
    STEP_ID,
    TOP_KEYS,
    TRIGGER_KEYS,
    Level,
    Parser,
    PlaybookErrors,
    suggest,
    version_of,
)
from watchkeeper.respond.playbook_model import Approval, Playbook, Step, StepKind, Trigger
from watchkeeper.respond.playbook_yaml import YamlList, YamlMap, line_of, read_yaml
from watchkeeper.security import ROLES


def parse_playbook(
    *,
    text: str,
    file: str,
    known_actions: Collection[str] | None = None,
    builtin: bool = False,
) -> Playbook:
    """A validated playbook from YAML ``text``; ``PlaybookErrors`` lists every problem, each
    ``file:line: key: message``. ``known_actions`` (the runner's registry) is checked when
    given. The ``version`` is :func:`version_of` the text; the status starts as ``draft``."""
    data = read_yaml(text, file=file)
    parser = Parser(file=file, known_actions=known_actions)
    if not isinstance(data, YamlMap):
        parser.error(line_of(data), "playbook", "expected a mapping of name, trigger, steps...")
        raise PlaybookErrors(parser.problems, file=file)
    parser.unknown_keys(data, TOP_KEYS, "")
    name = parser.text(data, "name", "name", required=True) or ""
    if name and not NAME.match(name):
        parser.error(line_of(data, "name"), "name", f"{name!r}: use a-z, 0-9, '_', '.', '-'")
    title = parser.text(data, "title", "title") or name
    if len(title) > MAX_TITLE:
        parser.error(line_of(data, "title"), "title", f"longer than {MAX_TITLE} characters")
    description = parser.text(data, "description", "description") or ""
    trigger = _trigger(parser, data)
    variables = _vars(parser, data)
    steps: tuple[Step, ...] = ()
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, YamlList) or not raw_steps:
        line = line_of(data, "steps") if "steps" in data else data.line
        parser.error(line, "steps", "required: a non-empty list of steps")
    else:
        steps = _steps(parser, raw_steps, path="steps", depth=1, in_foreach=False)
    concurrent = parser.integer(
        data, "max_concurrent_runs", "max_concurrent_runs", 10, 1, MAX_CONCURRENT
    )
    timeout = parser.seconds(data, "timeout", "timeout", 86_400.0, "playbook timeout")
    if len(parser.all_steps) > MAX_STEPS:
        parser.error(data.line, "steps", f"{len(parser.all_steps)} steps; at most {MAX_STEPS}")
    check_ids(parser)
    for level in parser.levels:
        check_jumps(parser, level)
    check_expressions(parser)
    if parser.problems:
        parser.problems.sort(key=lambda problem: problem.fields.get("line") or 0)
        raise PlaybookErrors(parser.problems, file=file)
    return Playbook(
        name=name,
        title=title,
        description=description,
        trigger=trigger,
        steps=steps,
        version=version_of(text),
        max_concurrent_runs=concurrent,
        timeout_seconds=timeout,
        source=text,
        file=file,
        builtin=builtin,
        vars=variables,
    )


def _trigger(parser: Parser, data: YamlMap) -> Trigger | None:
    raw = data.get("trigger")
    if raw is None:
        return None
    if not isinstance(raw, YamlMap):
        parser.error(line_of(data, "trigger"), "trigger", "expected a mapping with event, filter")
        return None
    parser.unknown_keys(raw, TRIGGER_KEYS, "trigger.")
    event = parser.text(raw, "event", "trigger.event", required=True) or ""
    if event and not EVENT_TYPE.match(event):
        parser.error(
            line_of(raw, "event"),
            "trigger.event",
            f"{event!r} is not an event type (dotted lowercase names, e.g. detect.alert; "
            "a segment may be *)",
        )
    condition = parser.text(raw, "filter", "trigger.filter")
    if condition is not None:
        parser.expression(
            condition,
            path="trigger.filter",
            line=line_of(raw, "filter"),
            kind="trigger",
            in_foreach=False,
        )
    return Trigger(event=event, filter=condition, where=parser.where(raw.line))


def _vars(parser: Parser, data: YamlMap) -> dict[str, Any]:
    raw = data.get("vars")
    if raw is None:
        return {}
    if not isinstance(raw, YamlMap):
        parser.error(line_of(data, "vars"), "vars", "expected a mapping of names to values")
        return {}
    for key, value in raw.items():
        if not STEP_ID.match(key):
            parser.error(raw.key_lines[key], f"vars.{key}", "names are [a-z][a-z0-9_]*")
        if isinstance(value, str) and has_markup(value):
            parser.error(raw.key_lines[key], f"vars.{key}", "vars are plain values, not templates")
    plain: dict[str, Any] = _plain(raw)
    return plain


def _plain(value: Any) -> Any:
    """Line-carrying containers as plain dicts and lists (what the runner stores)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _steps(
    parser: Parser, raw: YamlList, *, path: str, depth: int, in_foreach: bool
) -> tuple[Step, ...]:
    level = Level()
    parser.levels.append(level)
    parser.stack.append(level)
    for index, item in enumerate(raw):
        line = line_of(raw, index)
        if not isinstance(item, YamlMap):
            parser.error(line, f"{path}[{index}]", "expected a mapping with id and kind keys")
            continue
        step = _step(parser, item, index=index, path=path, depth=depth, in_foreach=in_foreach)
        if step is not None:
            level.steps.append(step)
            parser.all_steps.append((step, in_foreach))
    parser.stack.pop()
    return tuple(level.steps)


def _kind(parser: Parser, data: YamlMap, key: str) -> str | None:
    if "kind" in data:
        kind = data["kind"]
        if kind not in KINDS:
            parser.error(
                line_of(data, "kind"),
                f"{key}.kind",
                f"{kind!r} is not a kind{suggest(str(kind), KINDS)}; kinds: {', '.join(KINDS)}",
            )
            return None
        return str(kind)
    signs = [
        ("action", "action"),
        ("expression", "condition"),
        ("approval", "approval"),
        ("duration", "wait"),
        ("items", "foreach"),
    ]
    found = [kind for sign, kind in signs if sign in data]
    if not found and "steps" in data:
        found = ["parallel"]
    if len(found) == 1:
        return found[0]
    if not found:
        parser.error(
            data.line,
            f"{key}.kind",
            f"cannot tell the kind; give kind: ({', '.join(KINDS)}) or action:",
        )
    else:
        parser.error(data.line, f"{key}.kind", f"ambiguous ({' or '.join(found)}); give kind:")
    return None


def _step(
    parser: Parser, data: YamlMap, *, index: int, path: str, depth: int, in_foreach: bool
) -> Step | None:
    raw_id = data.get("id")
    key = f"{path}.{raw_id}" if isinstance(raw_id, str) and raw_id else f"{path}[{index}]"
    step_id = parser.text(data, "id", f"{key}.id", required=True) or ""
    if step_id and not STEP_ID.match(step_id):
        parser.error(
            line_of(data, "id"),
            f"{key}.id",
            f"{step_id!r}: use [a-z][a-z0-9_]* (it is used as steps.{step_id})",
        )
    kind = _kind(parser, data, key)
    if kind is None:
        return None
    parser.unknown_keys(data, COMMON_KEYS + KIND_KEYS[kind], f"{key}.")
    where = parser.where(data.line)
    values: dict[str, Any] = {}
    when = parser.text(data, "when", f"{key}.when")
    if when is not None:
        parser.expression(
            when,
            path=f"{key}.when",
            line=line_of(data, "when"),
            kind="expression",
            in_foreach=in_foreach,
        )
    output = parser.text(data, "output", f"{key}.output")
    if output is not None and not STEP_ID.match(output):
        parser.error(line_of(data, "output"), f"{key}.output", "use [a-z][a-z0-9_]*")
    on_error = parser.text(data, "on_error", f"{key}.on_error") or "fail"
    if on_error not in ("fail", "continue") and not on_error.startswith("goto:"):
        parser.error(
            line_of(data, "on_error"),
            f"{key}.on_error",
            f"{on_error!r}: expected fail, continue or goto:<step id>",
        )
    retries = parser.integer(data, "retries", f"{key}.retries", 0, 0, MAX_RETRIES)
    delay = parser.seconds(data, "retry_delay", f"{key}.retry_delay", 5.0)
    timeout = parser.seconds(data, "timeout", f"{key}.timeout", 300.0)
    side_effects = data.get("side_effects")
    if side_effects is not None and not isinstance(side_effects, bool):
        parser.error(line_of(data, "side_effects"), f"{key}.side_effects", "expected true/false")
        side_effects = None
    label = parser.text(data, "name", f"{key}.name") or ""
    if kind == "action":
        action = parser.text(data, "action", f"{key}.action", required=True) or ""
        known = parser.known_actions
        if action and known is not None and action not in known:
            parser.error(
                line_of(data, "action"),
                f"{key}.action",
                f"unknown action {action!r}{suggest(action, known)}",
            )
        inputs = data.get("inputs")
        if inputs is None:
            inputs = YamlMap()
            inputs.line, inputs.key_lines = data.line, {}
        elif not isinstance(inputs, YamlMap):
            parser.error(line_of(data, "inputs"), f"{key}.inputs", "expected a mapping")
            inputs = YamlMap()
        _input_templates(parser, inputs, f"{key}.inputs", in_foreach)
        if side_effects is None:
            side_effects = action not in READ_ONLY_ACTIONS
        elif not side_effects and action in STANDARD_ACTIONS - READ_ONLY_ACTIONS:
            parser.error(
                line_of(data, "side_effects"),
                f"{key}.side_effects",
                f"{action} changes things outside the run; it cannot be false",
            )
        values.update(action=action, inputs=_plain(inputs))
    elif kind == "condition":
        expression = parser.text(data, "expression", f"{key}.expression", required=True)
        if expression is not None:
            parser.expression(
                expression,
                path=f"{key}.expression",
                line=line_of(data, "expression"),
                kind="expression",
                in_foreach=in_foreach,
            )
        then = parser.text(data, "then", f"{key}.then")
        otherwise = parser.text(data, "otherwise", f"{key}.otherwise")
        if then is None and otherwise is None:
            parser.error(data.line, f"{key}.then", "a condition needs then, otherwise or both")
        values.update(expression=expression, then=then, otherwise=otherwise)
    elif kind == "approval":
        values["approval"] = _approval(parser, data, key, in_foreach)
    elif kind == "wait":
        if "duration" not in data:
            parser.error(data.line, f"{key}.duration", "required (e.g. 10m)")
        values["seconds"] = parser.seconds(data, "duration", f"{key}.duration", 60.0)
    else:
        if depth >= MAX_DEPTH:
            parser.error(data.line, f"{key}.steps", f"nested deeper than {MAX_DEPTH} levels")
        children = data.get("steps")
        if not isinstance(children, YamlList) or not children:
            parser.error(
                line_of(data, "steps") if "steps" in data else data.line,
                f"{key}.steps",
                "required: a non-empty list of steps",
            )
            children = YamlList()
            children.line, children.item_lines = data.line, []
        inner = in_foreach
        if kind == "foreach":
            items = parser.text(data, "items", f"{key}.items", required=True)
            if items is not None:
                parser.expression(
                    items,
                    path=f"{key}.items",
                    line=line_of(data, "items"),
                    kind="expression",
                    in_foreach=in_foreach,
                )
            values["items"] = items
            inner = True
        values["steps"] = _steps(
            parser, children, path=f"{key}.steps", depth=depth + 1, in_foreach=inner
        )
    return Step(
        id=step_id,
        kind=cast(StepKind, kind),
        name=label,
        when=when,
        retries=retries,
        retry_delay_seconds=delay,
        timeout_seconds=timeout,
        on_error=on_error,
        side_effects=bool(side_effects),
        output=output,
        where=where,
        **values,
    )


def _input_templates(parser: Parser, value: Any, path: str, in_foreach: bool) -> None:
    if isinstance(value, YamlMap):
        for key, item in value.items():
            if isinstance(item, str):
                if has_markup(item):
                    parser.expression(
                        item,
                        path=f"{path}.{key}",
                        line=value.key_lines[key],
                        kind="template",
                        in_foreach=in_foreach,
                    )
            else:
                _input_templates(parser, item, f"{path}.{key}", in_foreach)
    elif isinstance(value, YamlList):
        for index, item in enumerate(value):
            if isinstance(item, str):
                if has_markup(item):
                    parser.expression(
                        item,
                        path=f"{path}[{index}]",
                        line=line_of(value, index),
                        kind="template",
                        in_foreach=in_foreach,
                    )
            else:
                _input_templates(parser, item, f"{path}[{index}]", in_foreach)


def _approval(parser: Parser, data: YamlMap, key: str, in_foreach: bool) -> Approval | None:
    raw = data.get("approval")
    path = f"{key}.approval"
    if not isinstance(raw, YamlMap):
        parser.error(line_of(data, "approval"), path, "expected a mapping (quorum, roles...)")
        return None
    parser.unknown_keys(raw, APPROVAL_KEYS, f"{path}.")
    roles = parser.names(raw, "roles", f"{path}.roles")
    users = parser.names(raw, "users", f"{path}.users")
    escalate = parser.names(raw, "escalate_to", f"{path}.escalate_to")
    for field_name, names in (("roles", roles), ("escalate_to", escalate)):
        for role in names:
            if role not in ROLES:
                parser.error(
                    line_of(raw, field_name),
                    f"{path}.{field_name}",
                    f"unknown role {role!r}{suggest(role, ROLES)}",
                )
    if not roles and not users:
        parser.error(raw.line, f"{path}.roles", "name the approvers: roles, users or both")
    quorum = parser.integer(raw, "quorum", f"{path}.quorum", 1, 1, MAX_QUORUM)
    if users and not roles and quorum > len(users):
        parser.error(
            line_of(raw, "quorum"),
            f"{path}.quorum",
            f"quorum {quorum} but only {len(users)} users named (and no roles)",
        )
    ttl = parser.seconds(raw, "ttl", f"{path}.ttl", 0.0)  # 0: the node default
    prompt = parser.text(raw, "prompt", f"{path}.prompt") or ""
    if has_markup(prompt):
        parser.expression(
            prompt,
            path=f"{path}.prompt",
            line=line_of(raw, "prompt"),
            kind="template",
            in_foreach=in_foreach,
        )
    return Approval(
        quorum=quorum,
        roles=roles,
        users=users,
        ttl_seconds=ttl,
        escalate_to=escalate,
        prompt=prompt,
    )


def builtin_playbook_files() -> list[tuple[str, str]]:
    """The shipped playbooks as (label, text), sorted by file name."""
    folder = resources.files("watchkeeper") / "data" / "playbooks"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith((".yaml", ".yml")):
            found.append((f"builtin:{entry.name}", entry.read_text(encoding="utf-8")))
    return found


def playbook_file_paths(paths: Iterable[Path | str]) -> tuple[list[Path], list[InvalidInput]]:
    """Files named by ``paths`` (directories give their ``*.yaml``/``*.yml``, sorted)."""
    files: list[Path] = []
    errors: list[InvalidInput] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            files.append(path)
        else:
            errors.append(InvalidInput(f"{path}: no such file or directory", file=str(path)))
    return files, errors


def load_playbooks(
    *,
    paths: Iterable[Path | str],
    known_actions: Collection[str] | None = None,
    builtin: bool = False,
    texts: Iterable[tuple[str, str]] = (),
) -> tuple[list[Playbook], list[InvalidInput]]:
    """Every playbook that validates, and one error per problem (``file:line: key: ...``) of the
    others. ``texts`` adds (label, text) pairs, e.g. :func:`builtin_playbook_files`. A name
    given by two files is an error on the second."""
    files, errors = playbook_file_paths(paths)
    sources = list(texts)
    for path in files:
        try:
            sources.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(InvalidInput(f"{path}: cannot read: {exc}", file=str(path)))
    playbooks: list[Playbook] = []
    names: dict[str, str] = {}
    for label, text in sources:
        try:
            playbook = parse_playbook(
                text=text, file=label, known_actions=known_actions, builtin=builtin
            )
        except PlaybookErrors as exc:
            errors.extend(exc.problems)
            continue
        except InvalidInput as exc:
            errors.append(exc)
            continue
        if playbook.name in names:
            errors.append(
                InvalidInput(
                    f"{label}:1: name: {playbook.name!r} is also defined by {names[playbook.name]}",
                    file=label,
                    line=1,
                    key="name",
                )
            )
            continue
        names[playbook.name] = label
        playbooks.append(playbook)
    return playbooks, errors
