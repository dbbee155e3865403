"""The expression language of playbooks: Jinja2 expressions in a locked-down sandbox.

Playbook authors template step inputs from the triggering event and earlier steps, and write
conditions. Python ``eval`` would hand them (and anyone who can shape an event) the process;
Jinja2's ``ImmutableSandboxedEnvironment`` gives a familiar syntax without that, and this module
narrows it further so that a template cannot hang a worker or exhaust its memory either.

What is allowed
    Only ``{{ expression }}`` interpolation in templates (no ``{% %}`` statements: no loops or
    assignments, hence no unbounded work). In expressions: literals, ``and or not``, comparisons,
    ``in``, arithmetic, ``~`` (concatenation), subscripts, ``.name`` (on a mapping a key wins over
    a method, so ``event.payload.items`` is the payload's ``items`` field), conditional
    expressions (``a if c else b``), the filters and tests below, and these methods of strings,
    lists and mappings: ``lower upper strip lstrip rstrip startswith endswith split rsplit
    replace find count title capitalize removeprefix removesuffix partition rpartition
    isdigit get keys values items index``.

Filters
    abs capitalize count default (d) dictsort first float int items join last length list
    lower map max min reject rejectattr replace reverse round select selectattr sort string
    sum title tojson trim truncate unique upper, and:
    ``host_of`` (host of a URL, also defanged ``hxxp://evil[.]org``), ``domain_of`` (host of a
    URL, domain of an e-mail address, the domain itself otherwise; lowercase).
Tests
    Jinja's defaults (defined, none, number, string, mapping, sequence, in, eq, lt...) and
    ``glob`` (``event.payload.host is glob('*.gov.example')``, shell-style, case-insensitive).
    No regular expressions: the standard library has no timeout, and one backtracking pattern
    would stall a worker.
Globals
    ``range`` (at most ``MAX_RANGE`` items) and ``dict``; nothing else (no ``lipsum``,
    ``cycler``, ``namespace``).

Limits: a template is at most ``MAX_TEMPLATE`` characters and a bare expression at most
``MAX_EXPRESSION``; rendered text at most ``MAX_TEXT`` characters; a native value at most
``MAX_NATIVE`` units (items plus characters); ``*``, ``+``, ``**`` and filters are checked
before or after they build something large. No attribute or ``.name`` starting with ``_``.

Undefined names are errors (``StrictUndefined``): every error is ``InvalidInput`` naming the
file:line (``where``), the expression and what went wrong.

Context names by convention: ``event`` (type, subject, payload, actor, occurred_at), ``steps``
(outputs of earlier steps by step id or ``output`` name), ``vars`` (the playbook's ``vars``,
then ``set_variable``), ``item`` (inside ``foreach``), ``run`` (id, playbook, started_at);
:func:`run_context` builds it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from jinja2 import StrictUndefined, TemplateError, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from watchkeeper.core.observables import refang
from watchkeeper.errors import InvalidInput
from watchkeeper.respond.playbook_model import Where

MAX_EXPRESSION = 1_000
MAX_TEMPLATE = 10_000
MAX_TEXT = 100_000
MAX_NATIVE = 1_000_000
MAX_RANGE = 1_000
MAX_EXPONENT = 256
MAX_POWER_BITS = 4_096
CONTEXT_NAMES = frozenset({"event", "steps", "vars", "item", "run"})

_SAFE_FILTERS = [
    "abs",
    "capitalize",
    "count",
    "default",
    "d",
    "dictsort",
    "first",
    "float",
    "int",
    "items",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "select",
    "selectattr",
    "sort",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "truncate",
    "unique",
    "upper",
]
_SAFE_METHODS = frozenset(
    [
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "startswith",
        "endswith",
        "split",
        "rsplit",
        "replace",
        "find",
        "count",
        "title",
        "capitalize",
        "removeprefix",
        "removesuffix",
        "partition",
        "rpartition",
        "isdigit",
        "get",
        "keys",
        "values",
        "items",
        "index",
    ]
)
_BUILTIN_TYPES = (str, list, tuple, dict, int, float, bool, set, frozenset)
_ONE_EXPRESSION = re.compile(r"\A\s*\{\{(?P<body>(?:(?!\{\{|\}\}).)*)\}\}\s*\Z", re.DOTALL)
_MARKUP = ("{{", "{%", "{#")


class Deferred(Exception):
    """Raised by a value that cannot be known yet (an action's output in a dry run); it passes
    through :func:`render` and :func:`evaluate` untouched so the caller can say "unknown"."""


@dataclass(frozen=True)
class Usage:
    """What a checked expression refers to: root names and ``steps.<name>`` outputs."""

    names: frozenset[str]
    steps: frozenset[str]


def _label(where: Where | None) -> str:
    return str(where) if where is not None else "<expression>"


def _fail(where: Where | None, source: str, problem: str) -> InvalidInput:
    shown = source if len(source) <= 120 else source[:117] + "..."
    fields: dict[str, Any] = {"expression": shown}
    if where is not None:
        fields.update(file=where.file, line=where.line)
    return InvalidInput(f"{_label(where)}: {shown!r}: {problem}", **fields)


def _too_big(what: str) -> SecurityError:
    return SecurityError(f"{what} exceeds the limit of the expression language")


def _measure(value: Any, budget: int = MAX_NATIVE) -> int:
    """Remaining budget after counting ``value`` (items plus characters); negative = too big.
    Also fails on an undefined value hidden inside a list or mapping."""
    stack = [value]
    while stack:
        item = stack.pop()
        budget -= 1
        if budget < 0:
            return budget
        if isinstance(item, Undefined):
            str(item)  # StrictUndefined raises, naming the variable
        if isinstance(item, str):
            budget -= len(item)
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return budget


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise _too_big(f"a text of {len(value):,} characters")
    elif isinstance(value, list | tuple | dict) and _measure(value) < 0:
        raise _too_big("a value")
    return value


def _wrap_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        return _bounded(function(*args, **kwargs))

    return bounded


def _safe_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise _too_big(f"range of {len(values):,} items (at most {MAX_RANGE})")
    return values


def host_of(value: Any) -> str:
    """The lowercase host of a URL (defanged forms accepted); '' when there is none."""
    text = refang(str(value).strip())
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


def domain_of(value: Any) -> str:
    """Host of a URL, domain of an e-mail address, or the (lowercased) domain itself."""
    text = refang(str(value).strip())
    if "://" in text:
        return host_of(text)
    if "@" in text:
        return text.rsplit("@", 1)[1].strip().rstrip(".").lower()
    return host_of(text)


def _glob(value: Any, pattern: str) -> bool:
    return fnmatch.fnmatchcase(str(value).lower(), str(pattern).lower())


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with our allow-lists and size checks."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_") or not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, _BUILTIN_TYPES):
            return attr in _SAFE_METHODS
        return True

    def getattr(self, obj: Any, attribute: str) -> Any:
        if attribute.startswith("_"):
            return self.unsafe_undefined(obj, attribute)
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        return _bounded(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise _too_big(f"an exponent of {right}")
            if isinstance(left, int) and left.bit_length() * abs(right) > MAX_POWER_BITS:
                raise _too_big("a power that large")
            return left**right
        if operator == "%":
            if isinstance(left, str):
                raise SecurityError("'%' formatting of text is not allowed; use ~ or join")
            return left % right
        if operator == "*":
            for text, count in ((left, right), (right, left)):
                sized = isinstance(text, str | list | tuple) and isinstance(count, int)
                if sized and len(text) * count > MAX_TEXT:
                    raise _too_big(f"repeating a value {count:,} times")
            return left * right
        return _bounded(left + right)


@functools.cache
def _environment() -> _Environment:
    environment = _Environment(undefined=StrictUndefined, autoescape=False)
    filters = {name: _wrap_filter(environment.filters[name]) for name in _SAFE_FILTERS}
    filters.update(host_of=host_of, domain_of=domain_of)
    environment.filters.clear()
    environment.filters.update(filters)
    environment.tests["glob"] = _glob
    environment.globals.clear()
    environment.globals.update(range=_safe_range, dict=dict)
    return environment


def _strip_braces(source: str) -> str:
    """``{{ x }}`` written where a bare expression is expected means ``x``."""
    match = _ONE_EXPRESSION.match(source)
    return match.group("body") if match else source


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def _usage(tree: nodes.Node) -> Usage:
    names: set[str] = set()
    steps: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, nodes.Name) and node.ctx == "load":
            names.add(node.name)
        elif isinstance(node, nodes.Getattr | nodes.Getitem):
            inner = node.node
            if isinstance(inner, nodes.Name) and inner.name == "steps":
                key = node.attr if isinstance(node, nodes.Getattr) else None
                if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                    key = node.arg.value if isinstance(node.arg.value, str) else None
                if key is not None:
                    steps.add(key)
    return Usage(frozenset(names), frozenset(steps))


def _static_problems(tree: nodes.Node, *, names: Collection[str] | None) -> str | None:
    """What a parsed template or expression may not contain, found before it ever runs."""
    environment = _environment()
    for node in _walk(tree):
        if isinstance(node, nodes.Stmt) and not isinstance(node, nodes.Output):
            return "statements ({% ... %}) are not allowed; use {{ expression }} only"
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return f"attribute {node.attr!r} is not allowed (names starting with '_')"
        if isinstance(node, nodes.Filter) and node.name not in environment.filters:
            return (
                f"unknown filter {node.name!r}; allowed: {', '.join(sorted(environment.filters))}"
            )
        if isinstance(node, nodes.Test) and node.name not in environment.tests:
            return f"unknown test {node.name!r}"
    if names is not None:
        allowed = set(names) | set(environment.globals)
        for name in sorted(_usage(tree).names - allowed):
            return (
                f"unknown name {name!r}{_suggest(name, allowed)}; known: {', '.join(sorted(names))}"
            )
    return None


def _suggest(word: str, choices: Collection[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def has_markup(value: str) -> bool:
    """Whether a string is a template (contains ``{{``, ``{%`` or ``{#``)."""
    return any(mark in value for mark in _MARKUP)


def check(
    expression_or_template: str,
    *,
    where: Where | None,
    kind: Literal["auto", "expression", "template"] = "auto",
    names: Collection[str] | None = None,
) -> Usage:
    """Compile without running: syntax, allowed filters/tests, no statements, no ``_`` names,
    and (when ``names`` is given) only those root names. ``auto`` treats a string with markup
    as a template and anything else as an expression. Returns what the source refers to."""
    source = expression_or_template
    if not isinstance(source, str):
        raise _fail(where, repr(source), "expected text")
    if kind == "auto":
        kind = "template" if has_markup(source) else "expression"
    environment = _environment()
    try:
        if kind == "expression":
            source = _strip_braces(source)
            _check_length(source, MAX_EXPRESSION, where)
            tree: nodes.Node = environment.parse("{{ (" + source + "\n) }}")
        else:
            _check_length(source, MAX_TEMPLATE, where)
            tree = environment.parse(source)
    except TemplateSyntaxError as exc:
        raise _fail(where, expression_or_template, f"syntax error: {exc.message}") from None
    problem = _static_problems(tree, names=names)
    if problem:
        raise _fail(where, expression_or_template, problem)
    return _usage(tree)


def _check_length(source: str, limit: int, where: Where | None) -> None:
    if len(source) > limit:
        raise _fail(where, source, f"longer than {limit:,} characters")


def evaluate(expression: str, *, context: Mapping[str, Any], where: Where | None = None) -> Any:
    """The native value of a bare expression (``{{ }}`` around it is tolerated)."""
    check(expression, where=where, kind="expression")
    body = _strip_braces(expression)
    return _run(expression, where, lambda: _compiled_expression(body)(**context))


def render(value: Any, *, context: Mapping[str, Any], where: Where | None = None) -> Any:
    """Templates inside ``value`` (strings, lists, dicts, recursively) rendered. A string that is
    exactly one ``{{ expr }}`` gives the expression's native value; other strings with markup
    give text; everything else is returned as is. Mapping keys are not templated."""
    if isinstance(value, str):
        if not has_markup(value):
            return value
        single = _ONE_EXPRESSION.match(value)
        if single:
            return evaluate(single.group("body"), context=context, where=where)
        check(value, where=where, kind="template")
        return _run(value, where, lambda: _bounded(_compiled_template(value).render(**context)))
    if isinstance(value, Mapping):
        return {key: render(item, context=context, where=where) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context=context, where=where) for item in value]
    return value


def _native(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined: raises UndefinedError naming the variable
    if isinstance(value, range) or (
        hasattr(value, "__next__") and not isinstance(value, _BUILTIN_TYPES)
    ):
        value = list(value)
    return _bounded(value)


def _run(source: str, where: Where | None, work: Callable[[], Any]) -> Any:
    try:
        result = _native(work())
        _measure(result)
        return result
    except Deferred:
        raise
    except UndefinedError as exc:
        raise _fail(where, source, f"undefined: {exc.message}") from None
    except SecurityError as exc:
        raise _fail(where, source, f"not allowed: {exc}") from None
    except TemplateError as exc:
        raise _fail(where, source, str(exc.message or exc)) from None
    except RecursionError:
        raise _fail(where, source, "nested too deeply") from None
    except Exception as exc:  # a bad operation on event data (1 / 0, 'a' < 1, int('x'))
        raise _fail(where, source, f"{type(exc).__name__}: {exc}") from None


@functools.lru_cache(maxsize=2048)
def _compiled_expression(body: str) -> Callable[..., Any]:
    return cast(
        Callable[..., Any], _environment().compile_expression(body, undefined_to_none=False)
    )


@functools.lru_cache(maxsize=2048)
def _compiled_template(source: str) -> Any:
    return _environment().from_string(source)


def run_context(
    *,
    event: Mapping[str, Any],
    vars: Mapping[str, Any] | None = None,
    steps: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
    item: Any = None,
    in_foreach: bool = False,
) -> dict[str, Any]:
    """The names an expression sees; ``item`` only inside a ``foreach``."""
    context: dict[str, Any] = {
        "event": _event_document(event),
        "steps": dict(steps or {}),
        "vars": dict(vars or {}),
        "run": dict(run or {}),
    }
    if in_foreach:
        context["item"] = item
    return context


def _event_document(event: Mapping[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "",
        "subject": None,
        "payload": {},
        "actor": "",
        "occurred_at": None,
    }
    document.update(event)
    return document


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON data (unknown objects by their text), for reports."""
    return json.loads(json.dumps(value, default=str))
