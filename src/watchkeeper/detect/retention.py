"""Telemetry kept as Parquet, one directory per day, so new indicators can search the past.

``<data dir>/telemetry/day=YYYY-MM-DD/<name>.parquet``: each batch read is split by the day of
its events' time and appended as one file per day; a file is written under a temporary name and
renamed, so a killed process leaves whole files or none. Days older than the retention period
are removed whole. Parquet keeps the columns compressed and typed; a hunt reads only the
columns it matches on.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from watchkeeper.errors import InvalidInput

DAY = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")
TIME = "@timestamp"


@dataclass(frozen=True)
class Partition:
    """One day of retained telemetry."""

    day: date
    path: Path
    files: int
    bytes: int


def retain(*, frame: pl.DataFrame, root: Path, name: str | None = None) -> list[Path]:
    """Append ``frame`` to the day partitions of its events (``@timestamp``; rows without a
    time are not retained: a hunt could not place them in its window)."""
    if frame.is_empty() or TIME not in frame.columns:
        return []
    stem = name or uuid.uuid4().hex
    dated = frame.filter(pl.col(TIME).is_not_null()).with_columns(
        pl.col(TIME).dt.date().alias("__day")
    )
    written = []
    for (day,), part in dated.group_by("__day", maintain_order=True):
        folder = root / f"day={day}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{stem}.parquet"
        temporary = folder / f".{stem}.parquet.tmp"
        part.drop("__day").write_parquet(temporary, compression="zstd", statistics=True)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        written.append(target)
    return written


def partitions(*, root: Path) -> list[Partition]:
    """The days retained, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        match = DAY.match(folder.name)
        if not match or not folder.is_dir():
            continue
        files = sorted(folder.glob("*.parquet"))
        found.append(
            Partition(
                day=date.fromisoformat(match.group(1)),
                path=folder,
                files=len(files),
                bytes=sum(item.stat().st_size for item in files),
            )
        )
    return found


def prune(*, root: Path, keep_days: int, now: datetime) -> list[date]:
    """Remove the days older than ``keep_days`` before ``now``; returns the days removed."""
    if keep_days < 1:
        raise InvalidInput("retention: keep at least one day", field="detect_retention_days")
    oldest = (now.astimezone(UTC) - timedelta(days=keep_days - 1)).date()
    removed = []
    for partition in partitions(root=root):
        if partition.day < oldest:
            shutil.rmtree(partition.path)
            removed.append(partition.day)
    return removed


def scan(
    *, root: Path, since: datetime, columns: Sequence[str] | None = None
) -> Iterator[tuple[Path, pl.DataFrame]]:
    """The retained frames of events at or after ``since``, file by file (columns differ
    between sources; a file without one of ``columns`` gives the ones it has)."""
    first = since.astimezone(UTC).date()
    for partition in partitions(root=root):
        if partition.day < first:
            continue
        for path in sorted(partition.path.glob("*.parquet")):
            lazy = pl.scan_parquet(path)
            names = lazy.collect_schema().names()
            wanted = [c for c in columns if c in names] if columns is not None else names
            if TIME not in wanted and TIME in names:
                wanted.append(TIME)
            yield path, lazy.select(wanted).filter(pl.col(TIME) >= since).collect()
