"""A plain, per-event Sigma evaluator: the yardstick for the vectorised engine.

Deliberately simple and slow: it walks pySigma's condition tree for every event (a dict of
column -> value), with Python's ``re``, ``ipaddress`` and ``float``. Property tests compare the
vectorised engine against it on random rules and events, and the benchmark uses it as the
baseline. It shares only data with the engine (the field map entry of each rule: which columns
a field names, which rows a log source covers), and the semantics written down in
``sigma_expressions``. Never used on a hot path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from watchkeeper.detect.sigma_expressions import NUMBER, regex_text
from watchkeeper.detect.sigma_fields import LogsourceMap
from watchkeeper.detect.sigma_rules import CompiledRule, RuleSet

Event = Mapping[str, Any]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _wildcard(value: SigmaString, cased: bool) -> re.Pattern[str]:
    pieces = []
    for part in value.s:
        if part == SpecialChars.WILDCARD_MULTI:
            pieces.append(".*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            pieces.append(".")
        else:
            pieces.append(re.escape(str(part) if cased else str(part).lower()))
    return re.compile("".join(pieces), re.DOTALL)


def _end_anchored(pattern: str) -> str:
    """The pattern with ``$`` meaning the very end of the text, as in Rust's regex engine
    (Python's ``$`` also matches before a final newline); left alone in multi-line mode."""
    if re.compile(pattern).flags & re.MULTILINE or re.search(r"\(\?[a-zA-Z-]*m", pattern):
        return pattern
    out: list[str] = []
    escaped, in_class = False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]" or out[-1] == "[" or out[-2:] == ["[", "^"]
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append("\\Z")
            continue
        out.append(char)
    return "".join(out)


def _value_matches(value: Any, text: str | None) -> bool:
    if text is None:
        return False
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        return _wildcard(value, cased).fullmatch(text if cased else text.lower()) is not None
    if isinstance(value, SigmaRegularExpression):
        return re.search(_end_anchored(regex_text(value)), text) is not None
    if isinstance(value, SigmaCIDRExpression):
        try:
            return ipaddress.ip_address(text) in value.network
        except ValueError:
            return False
    if isinstance(value, SigmaCompareExpression):
        if re.fullmatch(NUMBER, text.strip()) is None:
            return False
        number, limit = float(text.strip()), float(value.number.number)
        return {
            CompareOperators.LT: number < limit,
            CompareOperators.LTE: number <= limit,
            CompareOperators.GT: number > limit,
            CompareOperators.GTE: number >= limit,
            CompareOperators.NEQ: number != limit,
        }[value.op]
    if isinstance(value, SigmaBool):
        return text.lower() == ("true" if value.boolean else "false")
    if isinstance(value, SigmaNumber):
        return text.lower() == str(value.number)
    raise ValueError(f"reference evaluator: unsupported value {type(value).__name__}")


def _item(columns: Sequence[str], value: Any, event: Event) -> bool:
    if isinstance(value, SigmaExpansion):
        return any(_item(columns, v, event) for v in value.values)
    texts = [_text(event.get(column)) for column in columns]
    if isinstance(value, SigmaNull):
        return all(text is None or text == "" for text in texts)
    if isinstance(value, SigmaExists):
        return any(text is not None for text in texts) == value.exists
    return any(_value_matches(value, text) for text in texts)


def _keyword(value: Any, mapping: LogsourceMap, event: Event) -> bool:
    if isinstance(value, SigmaNumber | SigmaBool):
        value = SigmaString(str(value))
    if isinstance(value, SigmaString):
        star = SpecialChars.WILDCARD_MULTI
        if not value.startswith(star):
            value = star + value
        if not value.endswith(star):
            value = value + star
    return _item(mapping.keyword_columns(), value, event)


def _node(node: Any, mapping: LogsourceMap, event: Event) -> bool:
    if isinstance(node, ConditionAND):
        return all(_node(arg, mapping, event) for arg in node.args)
    if isinstance(node, ConditionOR):
        return any(_node(arg, mapping, event) for arg in node.args)
    if isinstance(node, ConditionNOT):
        return not _node(node.args[0], mapping, event)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _item(mapping.columns(node.field), node.value, event)
    if isinstance(node, ConditionValueExpression):
        return _keyword(node.value, mapping, event)
    raise ValueError(f"reference evaluator: unsupported condition {type(node).__name__}")


def rule_matches(*, rule: CompiledRule, event: Event) -> bool:
    """Whether one supported rule fires on one event (row filter included)."""
    if not rule.supported or rule.mapping is None or not isinstance(rule.sigma, SigmaRule):
        raise ValueError(f"rule {rule.id} is not evaluated: {'; '.join(rule.unsupported)}")
    if not rule.mapping.row_matches(event):
        return False
    conditions = [condition.parse() for condition in rule.sigma.detection.parsed_condition]
    return any(_node(node, rule.mapping, event) for node in conditions if node is not None)


def reference_hits(*, rules: RuleSet, events: Sequence[Event]) -> dict[str, list[int]]:
    """Rule id -> positions of the events it fires on, for every supported rule."""
    hits: dict[str, list[int]] = {}
    for rule in rules.supported:
        assert rule.mapping is not None
        assert isinstance(rule.sigma, SigmaRule)
        mapping = rule.mapping
        conditions = [c.parse() for c in rule.sigma.detection.parsed_condition]
        hits[rule.id] = [
            position
            for position, event in enumerate(events)
            if mapping.row_matches(event)
            and any(_node(node, mapping, event) for node in conditions if node is not None)
        ]
    return hits
