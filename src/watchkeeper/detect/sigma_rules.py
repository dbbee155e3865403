"""Sigma rules read from files and compiled, each to a plan of per-column tests.

pySigma parses the rules (YAML, modifiers, conditions); this module finds the files, says where
a bad rule is (file, line, column, rule, detection key), resolves each rule's log source through
the field map and compiles it (``sigma_expressions``). A valid rule this engine cannot evaluate
faithfully (aggregation, correlation, ``|expand``, an unmapped log source, a regex Rust refuses)
is kept with its reasons in ``unsupported`` and never evaluated: reported, neither skipped in
silence nor half-evaluated. A bad rule does not stop the others: it lands in ``RuleSet.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaDetection, SigmaRule
from sigma.rule.base import SigmaYAMLLoader

from watchkeeper.detect.sigma_expressions import Node, compile_condition
from watchkeeper.detect.sigma_fields import FieldMap, LogsourceMap, load_fieldmap
from watchkeeper.errors import InvalidInput

SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class CompiledRule:
    """One rule, ready to evaluate unless ``unsupported`` says why not."""

    id: str
    title: str
    level: str | None
    tags: tuple[str, ...]
    logsource: dict[str, str]
    file: str
    plan: Node | None  # boolean algebra over per-column tests (sigma_expressions)
    unsupported: tuple[str, ...]
    mapping: LogsourceMap | None = field(repr=False)
    fields: dict[str, tuple[str, ...]] = field(repr=False)  # Sigma field -> columns
    columns: frozenset[str] = field(repr=False)
    lower: frozenset[str] = field(repr=False)
    ipv4: frozenset[str] = field(repr=False)
    sigma: SigmaRule | SigmaCorrelationRule = field(repr=False, compare=False)

    @property
    def supported(self) -> bool:
        """True when the engine evaluates this rule."""
        return self.plan is not None and not self.unsupported


@dataclass(frozen=True)
class RuleSet:
    """Loaded rules (supported or not) and the errors of the rules that could not load."""

    rules: tuple[CompiledRule, ...]
    errors: tuple[InvalidInput, ...]

    def __iter__(self) -> Iterator[CompiledRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def supported(self) -> tuple[CompiledRule, ...]:
        """The rules the engine evaluates."""
        return tuple(rule for rule in self.rules if rule.supported)

    @property
    def unsupported(self) -> tuple[CompiledRule, ...]:
        """The rules that load but are not evaluated, each with its reasons."""
        return tuple(rule for rule in self.rules if not rule.supported)


def rule_files(paths: Sequence[str | Path]) -> list[Path]:
    """The .yml/.yaml files named or found (recursively) under ``paths``, sorted per path."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            )
        elif path.is_file():
            found.append(path)
        else:
            raise InvalidInput(f"{path}: no such rule file or directory", file=str(path))
    return found


def _yaml_error(name: str, error: yaml.YAMLError) -> InvalidInput:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return InvalidInput(f"{name}: not valid YAML: {problem}", file=name)
    line, column = mark.line + 1, mark.column + 1
    return InvalidInput(
        f"{name}:{line}:{column}: not valid YAML: {problem}", file=name, line=line, column=column
    )


def _documents(text: str, name: str) -> tuple[list[Any], list[yaml.Node | None]]:
    """Parsed documents and their node trees (for line numbers of a bad rule)."""
    try:
        documents = list(yaml.load_all(text, SigmaYAMLLoader))
        nodes: list[yaml.Node | None] = list(yaml.compose_all(text, yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise _yaml_error(name, error) from error
    return documents, nodes


def _key_line(node: yaml.Node | None, *keys: str) -> int | None:
    """1-based line of a nested mapping key, or of the document when the key is absent."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return line
        for key_node, value_node in node.value:
            if key_node.value == key:
                line = key_node.start_mark.line + 1
                node = value_node
                break
        else:
            return line
    return line


def _rule_label(rule: Any) -> str:
    title = getattr(rule, "title", None) or "(untitled)"
    ident = getattr(rule, "id", None)
    return f"rule {title!r}" + (f" ({ident})" if ident else "")


def _locate(
    rule: Any, documents: list[Any], nodes: list[yaml.Node | None]
) -> tuple[yaml.Node | None, Any]:
    """The document a parsed rule came from, matched by title and id."""
    for document, node in zip(documents, nodes, strict=True):
        if not isinstance(document, dict):
            continue
        if document.get("title") == getattr(rule, "title", None) and str(document.get("id")) == str(
            getattr(rule, "id", None) or None
        ):
            return node, document
    return None, None


def _bad_key(document: Any) -> tuple[str, str] | None:
    """The first detection key pySigma rejects on its own, with its message."""
    detection = document.get("detection") if isinstance(document, dict) else None
    if not isinstance(detection, dict):
        return None
    for key, definition in detection.items():
        if key == "condition":
            continue
        try:
            SigmaDetection.from_definition(definition)
        except SigmaError as error:
            return str(key), str(error.args[0]) if error.args else str(error)
    return None


def _rule_error(
    name: str, rule: Any, error: Exception, documents: list[Any], nodes: list[yaml.Node | None]
) -> InvalidInput:
    node, document = _locate(rule, documents, nodes)
    message = str(error.args[0]) if error.args else str(error)
    key = _bad_key(document)
    fields: dict[str, Any] = {"file": name, "rule": getattr(rule, "title", None)}
    if key is not None:
        line = _key_line(node, "detection", key[0])
        fields["detection"] = key[0]
        where = f"{name}:{line}" if line else name
        text = f"{where}: {_rule_label(rule)}: detection {key[0]!r}: {key[1]}"
    else:
        line = _key_line(node)
        where = f"{name}:{line}" if line else name
        text = f"{where}: {_rule_label(rule)}: {message}"
    fields["line"] = line
    return InvalidInput(text, **fields)


def _logsource(rule: SigmaRule) -> dict[str, str]:
    source = rule.logsource
    pairs = {"category": source.category, "product": source.product, "service": source.service}
    return {key: value for key, value in pairs.items() if value}


def _compile(
    rule: SigmaRule | SigmaCorrelationRule, name: str, fieldmap: FieldMap
) -> CompiledRule | InvalidInput:
    common: dict[str, Any] = {
        "id": str(rule.id) if rule.id else (rule.name or rule.title),
        "title": rule.title,
        "level": rule.level.name.lower() if rule.level else None,
        "tags": tuple(str(tag) for tag in rule.tags),
        "file": name,
        "sigma": rule,
    }
    empty: dict[str, Any] = {
        "plan": None,
        "mapping": None,
        "fields": {},
        "columns": frozenset(),
        "lower": frozenset(),
        "ipv4": frozenset(),
    }
    if isinstance(rule, SigmaCorrelationRule):
        kind = rule.type.name.lower() if rule.type else "unknown"
        reason = f"correlation rule ({kind}) over other rules: correlations are not evaluated"
        return CompiledRule(logsource={}, unsupported=(reason,), **common, **empty)
    logsource = _logsource(rule)
    mapping = fieldmap.resolve(
        category=rule.logsource.category,
        product=rule.logsource.product,
        service=rule.logsource.service,
    )
    reasons: list[str] = []
    if mapping is None:
        shown = ", ".join(f"{k}={v}" for k, v in logsource.items()) or "(empty)"
        reasons.append(f"no field mapping for logsource {shown} in {fieldmap.source}")
    piped = [c for c in rule.detection.condition if "|" in c]
    if piped:
        reasons.append(f"aggregation in condition {piped[0]!r}: use a correlation rule")
    if reasons or mapping is None:
        return CompiledRule(
            logsource=logsource,
            unsupported=tuple(reasons),
            **common,
            **{**empty, "mapping": mapping},
        )
    try:
        conditions = [condition.parse() for condition in rule.detection.parsed_condition]
    except SigmaError as error:
        message = str(error.args[0]) if error.args else str(error)
        return InvalidInput(
            f"{name}: {_rule_label(rule)}: condition: {message}",
            file=name,
            rule=rule.title,
            detection="condition",
        )
    compiled = compile_condition(conditions=conditions, mapping=mapping)
    return CompiledRule(
        logsource=logsource,
        plan=compiled.plan,
        unsupported=compiled.unsupported,
        mapping=mapping,
        fields=compiled.fields,
        columns=compiled.columns,
        lower=compiled.lower,
        ipv4=compiled.ipv4,
        **common,
    )


def parse_rules(*, text: str, name: str, fieldmap: FieldMap | None = None) -> RuleSet:
    """Rules of one YAML text (one or several documents); ``name`` says where it came from.

    Invalid YAML refuses the whole text (InvalidInput naming line and column); a bad rule is
    reported in ``errors`` and the others load.
    """
    fieldmap = fieldmap or load_fieldmap()
    documents, nodes = _documents(text, name)
    errors: list[InvalidInput] = []
    try:
        collection = SigmaCollection.from_dicts(
            documents,
            collect_errors=True,
            source=SigmaRuleLocation(Path(name)),
            resolve_references=False,  # correlations are reported, never resolved or run
        )
    except SigmaError as error:  # a collection-level problem (filters, references)
        message = str(error.args[0]) if error.args else str(error)
        return RuleSet(rules=(), errors=(InvalidInput(f"{name}: {message}", file=name),))
    rule_errors = {id(e) for rule in collection.rules for e in rule.errors}
    for problem in collection.errors:
        if id(problem) not in rule_errors:
            message = str(problem.args[0]) if problem.args else str(problem)
            errors.append(InvalidInput(f"{name}: {message}", file=name))
    rules: list[CompiledRule] = []
    for rule in collection.rules:
        if rule.errors:
            errors.append(_rule_error(name, rule, rule.errors[0], documents, nodes))
            continue
        result = _compile(rule, name, fieldmap)
        if isinstance(result, InvalidInput):
            errors.append(result)
        else:
            rules.append(result)
    return RuleSet(rules=tuple(rules), errors=tuple(errors))


def load_rules(
    *, paths: Sequence[str | Path], fieldmap: FieldMap | None = None, strict: bool = False
) -> RuleSet:
    """Rules of the .yml/.yaml files named or found under ``paths`` (recursive, sorted).

    A file that cannot be read or parsed, and each invalid rule, is reported in
    ``RuleSet.errors`` while the rest load; ``strict`` raises the first error instead.
    """
    fieldmap = fieldmap or load_fieldmap()
    rules: list[CompiledRule] = []
    errors: list[InvalidInput] = []
    for path in rule_files(paths):
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
            loaded = parse_rules(text=text, name=name, fieldmap=fieldmap)
        except OSError as error:
            errors.append(InvalidInput(f"{name}: cannot read: {error.strerror}", file=name))
            continue
        except UnicodeDecodeError:
            errors.append(InvalidInput(f"{name}: not UTF-8 text", file=name))
            continue
        except InvalidInput as error:
            errors.append(error)
            continue
        rules += loaded.rules
        errors += loaded.errors
    if strict and errors:
        raise errors[0]
    return RuleSet(rules=tuple(rules), errors=tuple(errors))
