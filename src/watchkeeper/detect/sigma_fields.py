"""Where a Sigma rule looks in our telemetry: field names and rows per log source, as data.

Sigma rules name Windows/Sysmon or web-server fields (``Image``, ``c-uri``...); our frames carry
ECS-style columns. Which column stands for which field, and which rows a ``process_creation``
or ``proxy`` rule applies to, is a matter of deployment, not code: it lives in
``data/sigma/fieldmap.yaml`` (shipped) or a file of the same shape, read and checked here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from watchkeeper.errors import ConfigError

LOGSOURCE_KEYS = ("category", "product", "service")
SHIPPED = "data/sigma/fieldmap.yaml"

RowTest = tuple[tuple[str, tuple[str, ...]], ...]  # (column, allowed values) ANDed


@dataclass(frozen=True)
class LogsourceMap:
    """One log source: which rule logsources it serves, its rows and its field names."""

    name: str
    match: tuple[tuple[str, str], ...]
    rows: tuple[RowTest, ...]  # alternatives, ORed
    fields: Mapping[str, tuple[str, ...]]
    default_fields: Mapping[str, tuple[str, ...]]
    fallback: str | None  # column template for unmapped fields, "{field}" replaced

    def columns(self, field: str) -> tuple[str, ...]:
        """Columns standing for a Sigma field (the field name itself when nothing maps it)."""
        found = self.fields.get(field) or self.default_fields.get(field)
        if found:
            return found
        if self.fallback is not None:
            return (self.fallback.replace("{field}", field),)
        return (field,)

    def keyword_columns(self) -> tuple[str, ...]:
        """Columns a field-less (keyword) detection searches: those this log source maps."""
        return tuple(sorted({column for columns in self.fields.values() for column in columns}))

    def row_filter(self, *, present: Sequence[str]) -> pl.Expr:
        """Boolean expression selecting this log source's rows; absent columns never match."""
        have = set(present)
        alternatives: list[pl.Expr] = []
        for test in self.rows:
            if any(column not in have for column, _ in test):
                continue
            parts = [
                pl.col(column).cast(pl.String).is_in(list(values)).fill_null(False)
                for column, values in test
            ]
            alternatives.append(pl.all_horizontal(parts))
        if not alternatives:
            return pl.lit(False)
        return pl.any_horizontal(alternatives)

    def row_matches(self, event: Mapping[str, Any]) -> bool:
        """The same test for one event (used by the reference evaluator)."""
        return any(
            all(
                event.get(column) is not None and str(event.get(column)) in values
                for column, values in test
            )
            for test in self.rows
        )


@dataclass(frozen=True)
class FieldMap:
    """Every log source of a field map file."""

    source: str
    logsources: tuple[LogsourceMap, ...]
    fallbacks: Mapping[str, str]

    def resolve(
        self, *, category: str | None, product: str | None, service: str | None
    ) -> LogsourceMap | None:
        """The entry serving a rule's logsource: all its keys equal, most keys wins."""
        given = {"category": category, "product": product, "service": service}
        best: LogsourceMap | None = None
        for entry in self.logsources:
            if all(given[key] == value for key, value in entry.match) and (
                best is None or len(entry.match) > len(best.match)
            ):
                best = entry
        if best is None or product is None or product not in self.fallbacks:
            return best
        return LogsourceMap(
            name=best.name,
            match=best.match,
            rows=best.rows,
            fields=best.fields,
            default_fields=best.default_fields,
            fallback=self.fallbacks[product],
        )


def _fail(source: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {problem}", setting=key, file=source)


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _field_columns(source: str, key: str, raw: Any) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(source, key, "must be a mapping of Sigma field to column(s)")
    fields: dict[str, tuple[str, ...]] = {}
    for name, target in raw.items():
        columns = target if isinstance(target, list) else [target]
        if not isinstance(name, str) or not name:
            raise _fail(source, f"{key}.{name}", "field names must be non-empty strings")
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise _fail(source, f"{key}.{name}", "must name a column or a list of columns")
        fields[name] = tuple(columns)
    return fields


def _rows(source: str, key: str, raw: Any) -> tuple[RowTest, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(source, key, "must be a non-empty list of column -> value(s) mappings")
    tests: list[RowTest] = []
    for position, alternative in enumerate(raw):
        where = f"{key}[{position}]"
        if not isinstance(alternative, dict) or not alternative:
            raise _fail(source, where, "must be a non-empty mapping column -> value(s)")
        test: list[tuple[str, tuple[str, ...]]] = []
        for column, wanted in alternative.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            texts = [_text(value) for value in values]
            if not isinstance(column, str) or not texts or None in texts:
                raise _fail(source, f"{where}.{column}", "must be a string or list of strings")
            test.append((column, tuple(t for t in texts if t is not None)))
        tests.append(tuple(test))
    return tuple(tests)


def parse_fieldmap(*, data: Any, source: str) -> FieldMap:
    """Check a parsed field map document; a bad one raises ConfigError naming the key."""
    if not isinstance(data, dict):
        raise _fail(source, "(document)", "must be a mapping")
    unknown = set(data) - {"version", "fallback", "default", "logsources"}
    if unknown:
        raise _fail(source, sorted(unknown)[0], "unknown key")
    if data.get("version") != 1:
        raise _fail(source, "version", "must be 1")
    fallbacks = data.get("fallback") or {}
    if not isinstance(fallbacks, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and "{field}" in v for k, v in fallbacks.items()
    ):
        raise _fail(source, "fallback", "must map a product to a template containing {field}")
    default = data.get("default") or {}
    if not isinstance(default, dict) or set(default) - {"fields"}:
        raise _fail(source, "default", "must be a mapping with only `fields`")
    default_fields = _field_columns(source, "default.fields", default.get("fields"))
    entries = data.get("logsources")
    if not isinstance(entries, dict) or not entries:
        raise _fail(source, "logsources", "must be a non-empty mapping of name -> log source")
    logsources: list[LogsourceMap] = []
    for name, entry in entries.items():
        key = f"logsources.{name}"
        if not isinstance(entry, dict):
            raise _fail(source, key, "must be a mapping")
        extra = set(entry) - {"match", "rows", "fields"}
        if extra:
            raise _fail(source, f"{key}.{sorted(extra)[0]}", "unknown key")
        match = entry.get("match")
        if (
            not isinstance(match, dict)
            or not match
            or not set(match) <= set(LOGSOURCE_KEYS)
            or not all(isinstance(v, str) and v for v in match.values())
        ):
            raise _fail(
                source, f"{key}.match", "must map some of category/product/service to strings"
            )
        logsources.append(
            LogsourceMap(
                name=str(name),
                match=tuple(sorted(match.items())),
                rows=_rows(source, f"{key}.rows", entry.get("rows")),
                fields=_field_columns(source, f"{key}.fields", entry.get("fields")),
                default_fields=default_fields,
                fallback=None,
            )
        )
    return FieldMap(source=source, logsources=tuple(logsources), fallbacks=dict(fallbacks))


def load_fieldmap(*, path: str | Path | None = None) -> FieldMap:
    """Read a field map file, or the shipped one when ``path`` is None."""
    if path is None:
        text = (resources.files("watchkeeper") / SHIPPED).read_text(encoding="utf-8")
        source = f"watchkeeper/{SHIPPED}"
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"{source}: cannot read: {error.strerror}", setting="fieldmap", file=source
            ) from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise ConfigError(f"{where}: not valid YAML", setting="fieldmap", file=source) from error
    return parse_fieldmap(data=data, source=source)
