"""Column helpers shared by the telemetry readers: JSON lines, flattening, times, renaming.

JSON lines are parsed by Polars a chunk at a time. When a chunk fails (one broken line spoils
the whole parse), only that chunk is checked line by line to name the bad lines, and the good
ones are parsed again in one piece, so a single corrupt line costs one chunk's worth of slow
work and never the file.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from watchkeeper.detect.fields import TIMESTAMP_TYPE
from watchkeeper.detect.telemetry_lines import Chunk, Malformed, Mask

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

EPOCH = "epoch"
ISO = "%Y-%m-%dT%H:%M:%S%.f%z"
ISO_NAIVE = "%Y-%m-%dT%H:%M:%S%.f"
SPACED = "%Y-%m-%d %H:%M:%S%.f"
ALL_TIMES = (ISO, SPACED, ISO_NAIVE, EPOCH)


def _parse(text: pl.Series, form: str) -> pl.Series:
    if form == EPOCH:
        seconds = text.cast(pl.Float64, strict=False)
        return (
            (seconds * 1_000_000)
            .round(0)
            .cast(pl.Int64)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC")
        )
    if "%z" in form:
        parsed = text.str.to_datetime(form, strict=False, time_unit="us", time_zone="UTC")
        missed = parsed.is_null() & text.str.ends_with("Z")
        if missed.any():  # chrono's %z wants an offset; "Z" is UTC
            index = missed.arg_true()
            zulu = text.gather(index).str.strip_suffix("Z") + "+00:00"
            retried = zulu.str.to_datetime(form, strict=False, time_unit="us", time_zone="UTC")
            parsed = parsed.scatter(index, retried)
        return parsed
    return text.str.to_datetime(form, strict=False, time_unit="us").dt.replace_time_zone("UTC")


def parse_times(values: pl.Series, *, formats: Iterable[str] = ALL_TIMES) -> pl.Series:
    """Text times in UTC: per value, the first of ``formats`` that parses wins; naive times
    are UTC. ``epoch`` stands for seconds since 1970 with an optional fraction.

    Each format after the first only sees the values still unparsed, so a file in one
    format (the usual case) costs one parse.
    """
    text = values.cast(pl.String)
    result = pl.Series(values.name, [None] * len(text), dtype=TIMESTAMP_TYPE)
    pending = text.is_not_null()
    for form in formats:
        if not pending.any():
            break
        if pending.all():
            result = _parse(text, form).cast(TIMESTAMP_TYPE)
        else:
            index = pending.arg_true()
            result = result.scatter(index, _parse(text.gather(index), form).cast(TIMESTAMP_TYPE))
        pending = text.is_not_null() & result.is_null()
    return result


def times(frame: pl.DataFrame, column: pl.Expr, *, formats: Iterable[str] = ALL_TIMES) -> pl.Expr:
    """``parse_times`` of an expression over ``frame``, as a column expression."""
    values = frame.select(column.cast(pl.String).alias("_time")).to_series()
    if len(values) != frame.height:  # a constant (no time field at all): one per row
        first = values[0] if len(values) else None
        values = pl.repeat(first, frame.height, dtype=pl.String, eager=True)
    return pl.lit(parse_times(values, formats=formats))


def flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested objects become dotted columns (``{"dns": {"rrname": x}}`` -> ``dns.rrname``)."""
    while any(isinstance(dtype, pl.Struct) for dtype in frame.dtypes):
        columns: dict[str, pl.Expr] = {}
        for name, dtype in frame.schema.items():
            if isinstance(dtype, pl.Struct):
                for field in dtype.fields:
                    columns[f"{name}.{field.name}"] = (
                        pl.col(name).struct.field(field.name).alias(f"{name}.{field.name}")
                    )
            else:
                columns[name] = pl.col(name)
        frame = frame.select(list(columns.values()))
    return frame


def is_scalar(dtype: PolarsDataType) -> bool:
    """Neither a list nor an object: one value per cell."""
    return not isinstance(dtype, pl.List | pl.Array | pl.Struct | pl.Object)


def is_flat(dtype: PolarsDataType) -> bool:
    """A scalar, or a list of scalars (kept comma-joined, as Zeek writes its sets)."""
    if isinstance(dtype, pl.List | pl.Array):
        return dtype.inner is not None and is_scalar(dtype.inner)
    return is_scalar(dtype)


def as_text(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A column as text: scalars cast, lists of scalars comma-joined, anything else null."""
    dtype = frame.schema[name]
    if isinstance(dtype, pl.List | pl.Array):
        inner = dtype.inner
        if inner is not None and is_scalar(inner):
            return pl.col(name).cast(pl.List(pl.String)).list.join(",")
        return pl.lit(None, pl.String)
    if is_scalar(dtype):
        return pl.col(name).cast(pl.String)
    return pl.lit(None, pl.String)


def rename(
    frame: pl.DataFrame,
    *,
    mapping: Mapping[str, str],
    prefix: str | None,
    skip: Iterable[str] = (),
) -> dict[str, pl.Expr]:
    """Target name -> text expression: mapped columns renamed, the rest kept under ``prefix``.

    Several sources may feed one target (two shapes of the same record); the first present
    and non-null wins. ``prefix=None`` drops unmapped columns. Columns in ``skip`` are handled
    by the caller.
    """
    skipped = set(skip)
    sources: dict[str, list[pl.Expr]] = {}
    for source, target in mapping.items():
        if source in frame.schema and source not in skipped:
            sources.setdefault(target, []).append(as_text(frame, source))
    out = {
        target: (exprs[0] if len(exprs) == 1 else pl.coalesce(exprs))
        for target, exprs in sources.items()
    }
    if prefix is not None:
        for name, dtype in frame.schema.items():
            if name in mapping or name in skipped or not is_flat(dtype):
                continue
            if isinstance(dtype, pl.Null):
                continue
            out.setdefault(prefix + name, as_text(frame, name))
    return out


def _read_ndjson(data: bytes) -> pl.DataFrame:
    return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)


def _flat_text(value: Any, prefix: str, out: dict[str, str | None]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat_text(inner, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            out[prefix] = ",".join(_scalar(item) for item in value)
    elif value is None:
        out[prefix] = None
    else:
        out[prefix] = _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def json_lines(chunk: Chunk) -> tuple[pl.DataFrame, Mask, list[Malformed]]:
    """The chunk's JSON objects as a frame, the mask of the lines they came from, bad lines.

    Blank lines are skipped silently. The frame is not flattened.
    """
    mask = ~chunk.blank
    if not mask.any():
        return pl.DataFrame(), mask, []
    data = chunk.select(mask)
    try:
        frame = _read_ndjson(data)
        if frame.height == int(mask.sum()):
            return frame, mask, []
    except (pl.exceptions.PolarsError, ValueError):
        pass
    # Slow path for this chunk only: find the bad lines, parse the rest in one piece.
    bad: list[Malformed] = []
    objects: list[dict[str, Any]] = []
    good = np.zeros(len(chunk), np.bool_)
    for index in np.flatnonzero(mask).tolist():
        text = chunk.line(index)
        line = chunk.first_line + index
        if not text.strip():
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            bad.append(Malformed(chunk.path, line, f"invalid JSON: {exc}"))
            continue
        if not isinstance(value, dict):
            bad.append(Malformed(chunk.path, line, "not a JSON object"))
            continue
        good[index] = True
        objects.append(value)
    if not objects:
        return pl.DataFrame(), good, bad
    try:
        frame = _read_ndjson(chunk.select(good))
        if frame.height == len(objects):
            return frame, good, bad
    except (pl.exceptions.PolarsError, ValueError):
        pass
    # Values of clashing types across lines (an object here, a list there): all as text.
    rows: list[dict[str, str | None]] = []
    for value in objects:
        row: dict[str, str | None] = {}
        _flat_text(value, "", row)
        rows.append(row)
    keys = sorted({key for row in rows for key in row})
    frame = pl.DataFrame(
        {key: [row.get(key) for row in rows] for key in keys},
        schema=dict.fromkeys(keys, pl.String),
    )
    return frame, good, bad


def basename(column: pl.Expr) -> pl.Expr:
    """The last component of a Windows or POSIX path."""
    return column.str.extract(r"([^\\/]*)$", 1)
