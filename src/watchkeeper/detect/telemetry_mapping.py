"""Generic JSON lines and CSV telemetry, read through a mapping file the analyst writes.

A generic file has no agreed field names, so nothing is guessed: a YAML file names which
source column becomes which dictionary field, and which column holds the time::

    fields:
      src: source.ip
      query.name: dns.question.name     # nested JSON keys are joined with dots
    timestamp:
      field: time
      format: "%Y-%m-%d %H:%M:%S"       # optional; ISO 8601 and epoch seconds are tried
    dataset: resolver                   # optional event.dataset, default: the format name
    separator: ";"                      # CSV only, default ","

The file is checked in full before any telemetry is read; each error names the mapping file
and the key at fault. Source columns not named in ``fields`` are not kept.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from watchkeeper.detect.fields import ALWAYS, DATASET, FIELDS, LINE, MODULE, TIMESTAMP
from watchkeeper.detect.telemetry_columns import (
    ALL_TIMES,
    as_text,
    flatten,
    json_lines,
    times,
)
from watchkeeper.detect.telemetry_lines import Chunk, Malformed
from watchkeeper.errors import InvalidInput

KEYS = ("fields", "timestamp", "dataset", "separator")
RESERVED = frozenset(ALWAYS) - {DATASET}


@dataclass(frozen=True)
class FieldMapping:
    """A checked mapping file."""

    source: str
    fields: Mapping[str, str]  # source column -> dictionary name
    timestamp_field: str | None = None
    timestamp_format: str | None = None
    dataset: str | None = None
    separator: str = ","


def _fail(source: str, key: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{source}: {key}: {problem}", file=source, field=key)


def parse_mapping(*, text: str, source: str) -> FieldMapping:
    """Check a mapping document; ``source`` names it in errors."""
    try:
        document: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InvalidInput(
            f"{source}{where}: not valid YAML: {getattr(exc, 'problem', exc)}", file=source
        ) from None
    if not isinstance(document, dict):
        raise InvalidInput(
            f"{source}: a mapping file is a YAML mapping with the keys {', '.join(KEYS)}",
            file=source,
        )
    for key in document:
        if key not in KEYS:
            raise _fail(source, str(key), f"unknown key (expected one of {', '.join(KEYS)})")
    fields = document.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise _fail(source, "fields", "required: a mapping of source column -> field name")
    for column, name in fields.items():
        key = f"fields.{column}"
        if not isinstance(column, str) or not isinstance(name, str):
            raise _fail(source, key, "source column and field name must be text")
        if name not in FIELDS:
            raise _fail(source, key, f"{name!r} is not a field of the dictionary")
        if name in RESERVED:
            raise _fail(source, key, f"{name!r} is set by the reader (use 'timestamp:' for time)")
    timestamp = document.get("timestamp")
    time_field = time_format = None
    if timestamp is not None:
        if not isinstance(timestamp, dict):
            raise _fail(source, "timestamp", "must be a mapping with 'field' and 'format'")
        for key in timestamp:
            if key not in ("field", "format"):
                raise _fail(source, f"timestamp.{key}", "unknown key (expected field, format)")
        time_field, time_format = timestamp.get("field"), timestamp.get("format")
        if not isinstance(time_field, str) or not time_field:
            raise _fail(source, "timestamp.field", "required: the column holding the time")
        if time_format is not None and (
            not isinstance(time_format, str) or ("%" not in time_format and time_format != "epoch")
        ):
            raise _fail(source, "timestamp.format", "a strftime format such as %Y-%m-%d")
    dataset = document.get("dataset")
    if dataset is not None and not isinstance(dataset, str):
        raise _fail(source, "dataset", "must be text")
    separator = document.get("separator", ",")
    if not isinstance(separator, str) or len(separator.encode()) != 1:
        raise _fail(source, "separator", "must be a single one-byte character")
    return FieldMapping(
        source=source,
        fields=dict(fields),
        timestamp_field=time_field,
        timestamp_format=time_format,
        dataset=dataset,
        separator=separator,
    )


def load_mapping(path: str | Path) -> FieldMapping:
    """Read and check a mapping file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the mapping file: {exc}", file=str(path)) from None
    return parse_mapping(text=text, source=str(path))


def map_columns(frame: pl.DataFrame, *, mapping: FieldMapping, module: str) -> pl.DataFrame:
    """Source columns (flattened, ``log.file.line`` set) to the fields the mapping names."""
    exprs: dict[str, pl.Expr] = {}
    for column, name in mapping.fields.items():
        value = as_text(frame, column) if column in frame.schema else pl.lit(None, pl.String)
        exprs[name] = pl.coalesce(exprs[name], value) if name in exprs else value
    time = mapping.timestamp_field
    if time is not None and time in frame.schema:
        formats = (mapping.timestamp_format,) if mapping.timestamp_format else ALL_TIMES
        exprs[TIMESTAMP] = times(frame, as_text(frame, time), formats=formats)
    else:
        exprs[TIMESTAMP] = pl.lit(None, pl.Datetime("us", "UTC"))
    exprs[MODULE] = pl.lit(module)
    exprs[DATASET] = pl.lit(mapping.dataset or module)
    return frame.select(*(e.alias(n) for n, e in exprs.items()), pl.col(LINE))


class JsonlParser:
    """JSON lines of any shape, through a mapping file."""

    def __init__(self, *, name: str, mapping: FieldMapping) -> None:
        self.name = name
        self.mapping = mapping

    def parse(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        """The chunk's events and its bad lines."""
        frame, mask, bad = json_lines(chunk)
        if not frame.width:
            return pl.DataFrame(), bad
        frame = flatten(frame).with_columns(pl.Series(LINE, chunk.numbers(mask)))
        return map_columns(frame, mapping=self.mapping, module="jsonl"), bad


def _unique(names: list[str]) -> list[str]:
    """Header names made distinct (a repeated name gets a ``_2``, ``_3``... suffix)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _fields(line: bytes, separator: str) -> list[str]:
    """The values of one CSV line; an empty list when its quotes do not balance."""
    try:
        reader = csv.reader([line.decode("utf-8", "replace")], delimiter=separator, strict=True)
        return next(reader, [])
    except csv.Error:
        return []


class CsvParser:
    """CSV with a header row, through a mapping file.

    Lines are cut at line ends, so a quoted value spanning lines is reported as malformed.
    """

    def __init__(self, *, name: str, mapping: FieldMapping) -> None:
        self.name = name
        self.mapping = mapping
        self.header: list[str] | None = None

    def parse(self, chunk: Chunk) -> tuple[pl.DataFrame, list[Malformed]]:
        """The chunk's events and its bad lines."""
        mask = ~chunk.blank
        if self.header is None and mask.any():
            first = int(np.flatnonzero(mask)[0])
            self.header = _fields(chunk.line(first), self.mapping.separator)
            mask[first] = False
        if self.header is None or not mask.any():
            return pl.DataFrame(), []
        expected = len(self.header)
        separator = self.mapping.separator
        bad: list[Malformed] = []
        # Counting separators settles most lines at once; lines with quotes are re-read.
        suspect = mask & (chunk.count_byte(separator.encode()[0]) + 1 != expected)
        for index in np.flatnonzero(suspect).tolist():
            found = len(_fields(chunk.line(index), separator))
            if found != expected:
                line = chunk.first_line + index
                bad.append(
                    Malformed(chunk.path, line, f"expected {expected} fields, found {found}")
                )
                mask[index] = False
        if not mask.any():
            return pl.DataFrame(), bad
        names = [f"_{i}" for i in range(expected)]
        try:
            raw = pl.read_csv(
                io.BytesIO(chunk.select(mask)),
                separator=separator,
                has_header=False,
                new_columns=names,
                schema=dict.fromkeys(names, pl.String),
                encoding="utf8-lossy",
            )
            if raw.height != int(mask.sum()):
                raise pl.exceptions.ComputeError("a quoted value spans lines")
        except pl.exceptions.PolarsError:
            raw = self._slowly(chunk, mask, names, bad)
        frame = raw.select(
            pl.col(raw_name).alias(column)
            for raw_name, column in zip(names, _unique(self.header), strict=True)
        ).with_columns(pl.Series(LINE, chunk.numbers(mask)))
        return map_columns(frame, mapping=self.mapping, module="csv"), bad

    def _slowly(
        self, chunk: Chunk, mask: np.ndarray, names: list[str], bad: list[Malformed]
    ) -> pl.DataFrame:
        """One line at a time, for a chunk Polars could not read whole; updates ``mask``."""
        rows: list[list[str]] = []
        for index in np.flatnonzero(mask).tolist():
            values = _fields(chunk.line(index), self.mapping.separator)
            if len(values) != len(names):
                line = chunk.first_line + index
                bad.append(Malformed(chunk.path, line, "cannot read as CSV (unbalanced quotes?)"))
                mask[index] = False
                continue
            rows.append(values)
        columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
        return pl.DataFrame(columns, schema=dict.fromkeys(names, pl.String))
