"""A parsed Sigma condition turned into a plan: boolean algebra over per-column tests.

pySigma has already applied the modifiers: a leaf of its condition tree is a field (or none,
for keywords) and one typed value (string with wildcards, regular expression, CIDR network,
comparison, null, existence...). Each leaf becomes a ``ColumnTest``: a vectorised Polars
expression over the values of ONE column. The tree becomes ``AllOf``, ``AnyOf`` and ``Not``
over tests, and every subtree that reads a single column is folded into one test (``plan``).

Why tests look at one column at a time: telemetry repeats itself (the same executables,
parents, users and most command lines recur across hosts), so the evaluator runs each test
on the column's DISTINCT values only and spreads the answer back to events by index
(``sigma_hits``). A test's expression therefore reads the columns of a distinct-values frame:
``VALUE`` (the values as strings), ``LOWER`` (lowercased once), ``IPV4`` (as numbers) and, for
each case-insensitive ``contains`` literal, a boolean ``NEEDLE + literal`` column: the
evaluator fills all of a column's literals, from every rule, in one multi-pattern pass
(``contains`` is most of what process-creation rules do).

Semantics, chosen to match the reference evaluator (``sigma_reference``):

* strings compare case-insensitively, on the lowercased values; ``|cased`` compares as written;
* ``*`` and ``?`` wildcards span any characters, newlines included; the common shapes
  (``x``, ``x*``, ``*x``, ``*x*``, ``x*y``) use literal string kernels, the rest a regex;
* ``|re`` searches (not anchored), case-sensitive unless ``|i``; Rust's regex engine refuses
  look-around and back-references, and such a rule is reported as unsupported; ``$`` is
  the end of the text (not also before a final newline, as in PCRE) unless ``|m``;
* a null value never matches a value test, and every test is filled to a definite False, so
  ``not filter`` holds for events the filter's field is missing from (as a SIEM would);
* ``field: null`` and ``|exists: false`` hold for null or absent columns (``null`` also for
  the empty string);
* keywords (field-less values) are substring searches over the columns the log source maps.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import polars as pl
from polars.exceptions import ComputeError, PolarsError
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from watchkeeper.detect.sigma_fields import LogsourceMap

VALUE = "value"  # columns of the distinct-values frame a test reads
LOWER = "lower"
IPV4 = "ipv4"
NEEDLE = "contains:"  # + a lowercase literal: whether the lowercased value contains it
NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_OCTET = r"(0|[1-9][0-9]{0,2})"
IPV4_TEXT = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}

Part = str | SpecialChars


@dataclass(frozen=True)
class ColumnTest:
    """A definite boolean over the values of one column; ``key`` names it for sharing."""

    column: str
    key: str
    expr: pl.Expr = field(compare=False)
    needs: frozenset[str] = frozenset()  # LOWER, IPV4 and NEEDLE columns beside VALUE


@dataclass(frozen=True)
class AllOf:
    """AND of the parts."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    """OR of the parts."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """Negation of a part."""

    part: Node


@dataclass(frozen=True)
class Const:
    """A fixed answer (a refused leaf, or a subtree that simplified away)."""

    value: bool


Node = ColumnTest | AllOf | AnyOf | Not | Const


@dataclass
class Compiled:
    """A rule's plan (None when unsupported) and what it needs from a batch."""

    plan: Node | None
    unsupported: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]  # Sigma field -> columns read for it
    columns: frozenset[str]  # raw columns read
    lower: frozenset[str]  # columns read lowercased
    ipv4: frozenset[str]  # columns read as IPv4 numbers


def plan_tests(node: Node) -> Iterator[ColumnTest]:
    """Every test of a plan (with repeats)."""
    if isinstance(node, ColumnTest):
        yield node
    elif isinstance(node, AllOf | AnyOf):
        for part in node.parts:
            yield from plan_tests(part)
    elif isinstance(node, Not):
        yield from plan_tests(node.part)


def _combine(tests: Sequence[ColumnTest], conjunction: bool) -> ColumnTest:
    exprs = [test.expr for test in tests]
    joined = reduce(lambda a, b: a & b, exprs) if conjunction else reduce(lambda a, b: a | b, exprs)
    glue = "&" if conjunction else "|"
    return ColumnTest(
        column=tests[0].column,
        key=repr((glue, tuple(test.key for test in tests))),
        expr=joined,
        needs=frozenset().union(*(test.needs for test in tests)),
    )


def plan(node: Node) -> Node:
    """The same condition with constants folded, nesting flattened and every group of tests
    on one column under an AND/OR merged into one test (one pass over that column's values)."""
    if isinstance(node, ColumnTest | Const):
        return node
    if isinstance(node, Not):
        inner = plan(node.part)
        if isinstance(inner, Const):
            return Const(not inner.value)
        if isinstance(inner, ColumnTest):
            return ColumnTest(inner.column, repr(("~", inner.key)), ~inner.expr, inner.needs)
        if isinstance(inner, Not):
            return inner.part
        return Not(inner)
    conjunction = isinstance(node, AllOf)
    kind = AllOf if conjunction else AnyOf
    flat: list[Node] = []
    for part in (plan(p) for p in node.parts):
        if isinstance(part, kind):
            flat += part.parts
        elif isinstance(part, Const):
            if part.value != conjunction:  # False under AND, True under OR decides
                return part
        else:
            flat.append(part)
    by_column: dict[str, list[ColumnTest]] = {}
    rest: list[Node] = []
    for part in flat:
        if isinstance(part, ColumnTest):
            by_column.setdefault(part.column, []).append(part)
        else:
            rest.append(part)
    merged: list[Node] = [
        tests[0] if len(tests) == 1 else _combine(tests, conjunction)
        for tests in by_column.values()
    ]
    parts = merged + rest
    if not parts:
        return Const(conjunction)
    return parts[0] if len(parts) == 1 else kind(tuple(parts))


def ipv4_numbers(values: pl.Expr) -> pl.Expr:
    """Dotted quads as integers (null for anything else), for CIDR range tests."""
    groups = values.cast(pl.String).str.extract_groups(IPV4_TEXT)
    octets = [groups.struct.field(str(k)).cast(pl.Int64) for k in (1, 2, 3, 4)]
    number = octets[0] * 16777216 + octets[1] * 65536 + octets[2] * 256 + octets[3]
    return pl.when(pl.all_horizontal([o <= 255 for o in octets])).then(number)


def sigma_parts(value: SigmaString) -> list[Part] | None:
    """String parts with runs of ``*`` collapsed; None when a placeholder remains."""
    parts: list[Part] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            return None
        if part == SpecialChars.WILDCARD_MULTI and parts and parts[-1] == part:
            continue
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
            continue
        parts.append(part)
    return parts


def _regex_of(parts: Sequence[Part], lower: bool) -> str:
    text = []
    for part in parts:
        if part == SpecialChars.WILDCARD_MULTI:
            text.append(".*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            text.append(".")
        else:
            text.append(pl.escape_regex(part.lower() if lower else str(part)))
    return "(?s)^" + "".join(text) + "$"


def regex_text(value: SigmaRegularExpression) -> str:
    """The pattern with its flags as an inline group, for both engines."""
    flags = "".join(sorted(_FLAGS[flag] for flag in value.flags))
    return (f"(?{flags})" if flags else "") + str(value.regexp)


def _in_ipv6(network: ipaddress.IPv6Network) -> Callable[[pl.Series], pl.Series]:
    def run(values: pl.Series) -> pl.Series:
        values = values.cast(pl.String)
        distinct = values.filter(values.str.contains(":", literal=True)).unique()
        hits = []
        for text in distinct.to_list():
            try:
                if ipaddress.ip_address(text) in network:
                    hits.append(text)
            except ValueError:
                continue
        return values.is_in(hits)

    return run


def _shape(value: Any) -> tuple[str, str] | None:
    """("contains" | "equals", lowercase literal) for the plain ``*x*`` and ``x`` strings."""
    if not isinstance(value, SigmaString) or isinstance(value, SigmaCasedString):
        return None
    parts = sigma_parts(value)
    if parts is None:
        return None
    star = SpecialChars.WILDCARD_MULTI
    if len(parts) == 3 and parts[0] == star == parts[2] and isinstance(parts[1], str):
        return "contains", parts[1].lower()
    if len(parts) == 1 and isinstance(parts[0], str):
        return "equals", parts[0].lower()
    return None


def _contains(literal: str) -> pl.Expr:
    """Whether the lowercased value contains a lowercase literal: a column the evaluator
    fills for all such literals of a column in one multi-pattern pass."""
    return pl.col(NEEDLE + literal) if literal else pl.col(LOWER).is_not_null()


def _key(value: Any) -> str:
    """A stable description of a Sigma value, naming the test it becomes."""
    if isinstance(value, SigmaRegularExpression):
        return repr(("re", regex_text(value)))
    if isinstance(value, SigmaCIDRExpression):
        return repr(("cidr", str(value.network)))
    if isinstance(value, SigmaCompareExpression):
        return repr(("compare", value.op.name, value.number.number))
    if isinstance(value, SigmaString):
        parts = [("s", p) if isinstance(p, str) else ("w", repr(p)) for p in value.s]
        return repr((type(value).__name__, tuple(parts)))
    return repr((type(value).__name__, repr(value)))


@dataclass
class _Compiler:
    mapping: LogsourceMap
    unsupported: list[str] = field(default_factory=list)
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    columns: set[str] = field(default_factory=set)
    lower: set[str] = field(default_factory=set)
    ipv4: set[str] = field(default_factory=set)

    def refuse(self, reason: str) -> Const:
        if reason not in self.unsupported:
            self.unsupported.append(reason)
        return Const(False)

    def made(self, column: str, key: str, expr: pl.Expr, fill: bool = False) -> ColumnTest:
        """A test on ``column``; nulls become ``fill`` so that ``not`` stays definite."""
        needs = frozenset(
            name for name in expr.meta.root_names() if name != VALUE
        )  # LOWER, IPV4 and NEEDLE columns
        self.columns.add(column)
        if LOWER in needs or any(name.startswith(NEEDLE) for name in needs):
            self.lower.add(column)
        if IPV4 in needs:
            self.ipv4.add(column)
        return ColumnTest(column=column, key=key, expr=expr.fill_null(fill), needs=needs)

    # --- condition tree -------------------------------------------------------------------

    def node(self, node: Any) -> Node:
        if isinstance(node, ConditionAND):
            return AllOf(tuple(self.node(arg) for arg in node.args))
        if isinstance(node, ConditionOR):
            return self.either(node.args)
        if isinstance(node, ConditionNOT):
            return Not(self.node(node.args[0]))
        if isinstance(node, ConditionFieldEqualsValueExpression):
            columns = self.mapping.columns(node.field)
            self.fields[node.field] = columns
            return self.item(columns, node.value, node.field)
        if isinstance(node, ConditionValueExpression):
            return self.keyword(node.value)
        return self.refuse(f"condition element {type(node).__name__} is not supported")

    def either(self, args: Sequence[Any]) -> Node:
        """OR, with same-field ``contains`` and equality lists folded into one kernel each."""
        groups: dict[tuple[str, str], list[str]] = {}
        rest: list[Node] = []
        for arg in args:
            shapes = self.foldable(arg)
            if shapes is None:
                rest.append(self.node(arg))
                continue
            for kind, literal in shapes:
                groups.setdefault((arg.field, kind), []).append(literal)
        for (name, kind), literals in groups.items():
            columns = self.mapping.columns(name)
            self.fields[name] = columns
            rest.append(self.folded(columns, kind, literals))
        return AnyOf(tuple(rest))

    def folded(self, columns: tuple[str, ...], kind: str, literals: list[str]) -> Node:
        """Several lowercase literals of one kind on one field, in one pass per column."""
        literals = sorted(set(literals))
        target = pl.col(LOWER)
        if kind == "contains":
            expr = pl.any_horizontal([_contains(literal) for literal in literals])
        else:
            expr = target.is_in(literals)
        key = repr((kind, tuple(literals)))
        return AnyOf(tuple(self.made(column, key, expr) for column in columns))

    def foldable(self, arg: Any) -> list[tuple[str, str]] | None:
        if not isinstance(arg, ConditionFieldEqualsValueExpression):
            return None
        values = arg.value.values if isinstance(arg.value, SigmaExpansion) else [arg.value]
        shapes = [_shape(value) for value in values]
        if any(shape is None for shape in shapes):
            return None
        return [shape for shape in shapes if shape is not None]

    # --- leaves ---------------------------------------------------------------------------

    def item(self, columns: tuple[str, ...], value: Any, name: str) -> Node:
        if isinstance(value, SigmaExpansion):
            shapes = [_shape(v) for v in value.values]
            kinds = {shape[0] for shape in shapes if shape is not None}
            if None not in shapes and len(kinds) == 1:
                return self.folded(columns, kinds.pop(), [s[1] for s in shapes if s is not None])
            return AnyOf(tuple(self.item(columns, v, name) for v in value.values))
        if isinstance(value, SigmaNull):
            empty = pl.col(VALUE).is_null() | (pl.col(VALUE) == "")
            return AllOf(tuple(self.made(c, repr(("null",)), empty, fill=True) for c in columns))
        if isinstance(value, SigmaExists):
            present = AnyOf(
                tuple(self.made(c, repr(("exists",)), pl.col(VALUE).is_not_null()) for c in columns)
            )
            return present if value.exists else Not(present)
        return AnyOf(tuple(self.test(column, value, name) for column in columns))

    def test(self, column: str, value: Any, name: str) -> ColumnTest | Const:
        expr: pl.Expr | Const
        if isinstance(value, SigmaString):
            expr = self.string(value, name)
        elif isinstance(value, SigmaRegularExpression):
            expr = self.regex(value, name)
        elif isinstance(value, SigmaCIDRExpression):
            expr = self.cidr(value)
        elif isinstance(value, SigmaCompareExpression):
            expr = self.compare(value)
        elif isinstance(value, SigmaBool):
            expr = pl.col(LOWER) == ("true" if value.boolean else "false")
        elif isinstance(value, SigmaTimestampPart):
            expr = self.refuse(f"{name}: timestamp part modifiers are not supported")
        elif isinstance(value, SigmaNumber):
            expr = pl.col(LOWER) == str(value.number)
        elif isinstance(value, SigmaFieldReference):
            expr = self.refuse(f"{name}: |fieldref (comparing two fields) is not supported")
        else:
            expr = self.refuse(f"{name}: value type {type(value).__name__} is not supported")
        if isinstance(expr, Const):
            return expr
        return self.made(column, _key(value), expr)

    def string(self, value: SigmaString, name: str) -> pl.Expr | Const:
        parts = sigma_parts(value)
        if parts is None:
            return self.refuse(
                f"{name}: |expand placeholder in {value.original!r} needs a placeholder "
                "list, which this engine does not have"
            )
        cased = isinstance(value, SigmaCasedString)
        target = pl.col(VALUE) if cased else pl.col(LOWER)

        def text(part: Part) -> str:
            return str(part) if cased else str(part).lower()

        star = SpecialChars.WILDCARD_MULTI
        shape = ["*" if p == star else "?" if isinstance(p, SpecialChars) else "s" for p in parts]
        pattern = "".join(shape)
        if pattern == "":
            return target == ""
        if pattern == "s":
            return target == text(parts[0])
        if pattern == "*":
            return target.is_not_null()
        if pattern == "s*":
            return target.str.starts_with(text(parts[0]))
        if pattern == "*s":
            return target.str.ends_with(text(parts[1]))
        if pattern == "*s*":
            return (
                target.str.contains(text(parts[1]), literal=True)
                if cased
                else _contains(text(parts[1]))
            )
        if pattern == "s*s":
            head, tail = text(parts[0]), text(parts[2])
            return (
                target.str.starts_with(head)
                & target.str.ends_with(tail)
                & (target.str.len_chars() >= len(head) + len(tail))
            )
        return target.str.contains(_regex_of(parts, lower=not cased))

    def regex(self, value: SigmaRegularExpression, name: str) -> pl.Expr | Const:
        pattern = regex_text(value)
        try:
            pl.select(pl.lit("").str.contains(pattern))
        except (ComputeError, PolarsError) as error:
            first = str(error).strip().splitlines()
            reason = first[-1] if first else "rejected"
            for line in first:
                if line.startswith("error:"):
                    reason = line
            return self.refuse(f"{name}: regular expression {pattern!r} not supported: {reason}")
        return pl.col(VALUE).str.contains(pattern)

    def cidr(self, value: SigmaCIDRExpression) -> pl.Expr:
        network = value.network
        if isinstance(network, ipaddress.IPv4Network):
            low = int(network.network_address)
            high = int(network.broadcast_address)
            return pl.col(IPV4).is_between(low, high)
        return pl.col(VALUE).map_batches(_in_ipv6(network), return_dtype=pl.Boolean)

    def compare(self, value: SigmaCompareExpression) -> pl.Expr:
        text = pl.col(VALUE).str.strip_chars()
        number = pl.when(text.str.contains(NUMBER)).then(text.cast(pl.Float64, strict=False))
        limit = float(value.number.number)
        operator = value.op
        if operator == CompareOperators.LT:
            return number < limit
        if operator == CompareOperators.LTE:
            return number <= limit
        if operator == CompareOperators.GT:
            return number > limit
        if operator == CompareOperators.GTE:
            return number >= limit
        return number != limit

    def keyword(self, value: Any) -> Node:
        columns = self.mapping.keyword_columns()
        if not columns:
            return self.refuse("keyword search: the log source maps no columns to search")
        if isinstance(value, SigmaString):
            star = SpecialChars.WILDCARD_MULTI
            wrapped = value
            if not value.startswith(star):
                wrapped = star + wrapped
            if not wrapped.endswith(star):
                wrapped = wrapped + star
            value = wrapped
        elif isinstance(value, SigmaNumber | SigmaBool):
            value = SigmaString("*" + str(value) + "*")
        return self.item(columns, value, "(keyword)")


def compile_condition(*, conditions: Sequence[Any], mapping: LogsourceMap) -> Compiled:
    """The plan of a rule's parsed conditions (several conditions are ORed)."""
    compiler = _Compiler(mapping=mapping)
    parts = [compiler.node(node) for node in conditions if node is not None]
    if not parts:
        compiler.refuse("the condition selects nothing")
    return Compiled(
        plan=None if compiler.unsupported else plan(AnyOf(tuple(parts))),
        unsupported=tuple(compiler.unsupported),
        fields=dict(compiler.fields),
        columns=frozenset(compiler.columns),
        lower=frozenset(compiler.lower),
        ipv4=frozenset(compiler.ipv4),
    )
