"""Reading telemetry files into batches of dictionary columns, ready for matching and rules.

Input is whatever a responder is handed: files, directories, glob patterns, standard input,
gzipped or not, in any of the formats of ``formats``. Each file is read in chunks of whole
lines and each chunk is parsed columnar; the result is a stream of ``Batch`` objects, one per
chunk, so memory stays bounded by ``batch_rows`` whatever the file size.

Bad lines never stop a file: they are counted, the first few are kept with file and line for
the report, and the good lines around them are kept. A ``TelemetryReader`` keeps the state of
one stream (its format, a Zeek header) between reads, so a follower of a growing file can feed
it the appended bytes as they come.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import polars as pl

from watchkeeper.detect.fields import (
    DATASET,
    LINE,
    MODULE,
    PATH,
    TIMESTAMP,
    TIMESTAMP_TYPE,
    column_order,
)
from watchkeeper.detect.formats import (
    TELEMETRY_FORMATS,
    Parser,
    TelemetryFormat,
    detect_telemetry_format,
    telemetry_format,
)
from watchkeeper.detect.telemetry_lines import Malformed, split_chunks
from watchkeeper.detect.telemetry_mapping import FieldMapping, load_mapping
from watchkeeper.errors import InvalidInput
from watchkeeper.intel import expand, open_input

SAMPLE_BYTES = 64 << 10
BLOCK_BYTES = 1 << 20
KEPT_MALFORMED = 20

__all__ = [
    "TELEMETRY_FORMATS",
    "Batch",
    "FieldMapping",
    "Malformed",
    "TelemetryFormat",
    "TelemetryReader",
    "detect_telemetry_format",
    "input_sizes",
    "read_stream",
    "read_telemetry",
]


@dataclass(frozen=True)
class Batch:
    """Events of one chunk of one file, and the lines of that chunk that could not be read."""

    frame: pl.DataFrame
    format: str
    path: str
    malformed: tuple[Malformed, ...]
    malformed_count: int


def _mapping(mapping: str | Path | FieldMapping | None) -> FieldMapping | None:
    if mapping is None or isinstance(mapping, FieldMapping):
        return mapping
    return load_mapping(mapping)


def _check(fmt: TelemetryFormat, mapping: FieldMapping | None) -> None:
    if fmt.needs_mapping and mapping is None:
        raise InvalidInput(
            f"the {fmt.name} format needs a mapping file naming the field of each column",
            field="mapping",
        )


def finish(frame: pl.DataFrame, *, path: str, module: str, max_field_chars: int) -> pl.DataFrame:
    """The columns every batch has, types as the dictionary says, long values cut short."""
    if not frame.width:
        frame = pl.DataFrame(schema={LINE: pl.Int64})
    additions: list[pl.Expr] = [pl.lit(path, pl.String).alias(PATH)]
    if TIMESTAMP not in frame.schema:
        additions.append(pl.lit(None, TIMESTAMP_TYPE).alias(TIMESTAMP))
    if MODULE not in frame.schema:
        additions.append(pl.lit(module, pl.String).alias(MODULE))
    if DATASET not in frame.schema:
        additions.append(pl.lit(module, pl.String).alias(DATASET))
    frame = frame.with_columns(additions)
    casts = {
        name: pl.String
        for name, dtype in frame.schema.items()
        if name not in (TIMESTAMP, LINE) and dtype != pl.String
    }
    if casts:
        frame = frame.cast(casts)  # type: ignore[arg-type]
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if texts and frame.height:
        longest = frame.select(pl.col(texts).str.len_bytes().max()).row(0)
        cut = [
            name for name, size in zip(texts, longest, strict=True) if (size or 0) > max_field_chars
        ]
        if cut:
            frame = frame.with_columns(pl.col(cut).str.slice(0, max_field_chars))
    return frame.select(column_order(frame.columns))


class TelemetryReader:
    """Reads one named stream; keeps its format and parser between reads of appended data."""

    def __init__(
        self,
        *,
        name: str,
        format: str = "auto",
        mapping: str | Path | FieldMapping | None = None,
        batch_rows: int = 200_000,
        max_line_bytes: int = 1 << 20,
        max_field_chars: int = 8192,
    ) -> None:
        if batch_rows < 1 or max_line_bytes < 1 or max_field_chars < 1:
            raise InvalidInput("batch_rows, max_line_bytes and max_field_chars must be positive")
        self.name = name
        self.mapping = _mapping(mapping)
        self.format: TelemetryFormat | None = None
        if format != "auto":
            self.format = telemetry_format(format)
            _check(self.format, self.mapping)
        self.parser: Parser | None = None
        self.batch_rows = batch_rows
        self.max_line_bytes = max_line_bytes
        self.max_field_chars = max_field_chars

    def read(
        self,
        *,
        stream: BinaryIO,
        first_line: int = 1,
        on_progress: Callable[[int], None] | None = None,
    ) -> Iterator[Batch]:
        """Batches from ``stream``, whose first line is line ``first_line`` of the source."""
        sample = b""
        while len(sample) < SAMPLE_BYTES:
            piece = stream.read(SAMPLE_BYTES - len(sample))
            if not piece:
                break
            sample += piece
        if not sample:
            return
        if self.format is None:
            self.format = telemetry_format(detect_telemetry_format(sample=sample, name=self.name))
            _check(self.format, self.mapping)
        if self.parser is None:
            self.parser = self.format.open_parser(self.name, self.mapping)
        blocks: Iterable[bytes] = itertools.chain(
            [sample], iter(lambda: stream.read(BLOCK_BYTES), b"")
        )
        if on_progress is not None:
            blocks = _reported(blocks, on_progress)
        for chunk, long in split_chunks(
            blocks,
            path=self.name,
            first_line=first_line,
            max_lines=self.batch_rows,
            max_line_bytes=self.max_line_bytes,
        ):
            frame, bad = self.parser.parse(chunk)
            bad = sorted([*long, *bad], key=lambda item: item.line)
            if not frame.height and not bad:
                continue
            yield Batch(
                frame=finish(
                    frame,
                    path=self.name,
                    module=self.format.name,
                    max_field_chars=self.max_field_chars,
                ),
                format=self.format.name,
                path=self.name,
                malformed=tuple(bad[:KEPT_MALFORMED]),
                malformed_count=len(bad),
            )


def _reported(blocks: Iterable[bytes], on_progress: Callable[[int], None]) -> Iterator[bytes]:
    for block in blocks:
        on_progress(len(block))
        yield block


def read_stream(
    *,
    stream: BinaryIO,
    name: str,
    format: str,
    mapping: str | Path | FieldMapping | None = None,
    first_line: int = 1,
    batch_rows: int = 200_000,
    max_line_bytes: int = 1 << 20,
    max_field_chars: int = 8192,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Batch]:
    """Batches from one byte stream (already decompressed) called ``name``.

    A follower that reads a growing file should keep a ``TelemetryReader`` instead, so that a
    Zeek header read once still applies to the lines appended later.
    """
    reader = TelemetryReader(
        name=name,
        format=format,
        mapping=mapping,
        batch_rows=batch_rows,
        max_line_bytes=max_line_bytes,
        max_field_chars=max_field_chars,
    )
    yield from reader.read(stream=stream, first_line=first_line, on_progress=on_progress)


def read_telemetry(
    *,
    paths: Sequence[str],
    format: str = "auto",
    mapping: str | Path | None = None,
    batch_rows: int = 200_000,
    max_line_bytes: int = 1 << 20,
    max_field_chars: int = 8192,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Batch]:
    """Batches from files, directories (recursive, sorted), glob patterns and ``-`` (stdin).

    A batch holds at most ``batch_rows`` rows and comes from at most 16 MiB of source text
    (whichever is reached first). The format is detected per file with ``auto``. Gzip is read
    transparently.
    ``on_progress`` receives the number of (decompressed) bytes consumed as reading goes on,
    to be set against ``input_sizes``. Arguments are checked, and the mapping file read,
    before any telemetry.
    """
    checked = _mapping(mapping)
    if format != "auto":
        _check(telemetry_format(format), checked)
    for source in expand(list(paths)):
        with open_input(source) as stream:
            yield from read_stream(
                stream=stream,  # type: ignore[arg-type]
                name=source.name,
                format=format,
                mapping=checked,
                batch_rows=batch_rows,
                max_line_bytes=max_line_bytes,
                max_field_chars=max_field_chars,
                on_progress=on_progress,
            )


def input_sizes(paths: Sequence[str]) -> int | None:
    """Total bytes ``read_telemetry`` will consume, for a progress bar; None when unknown.

    Gzip files count their uncompressed size as recorded in their trailer (an estimate:
    the trailer holds it modulo 4 GiB and for the last member only); standard input is
    unknown.
    """
    total = 0
    for source in expand(list(paths)):
        if source.path is None:
            return None
        size = source.path.stat().st_size
        with source.path.open("rb") as handle:
            if handle.read(2) == b"\x1f\x8b" and size >= 18:
                handle.seek(-4, 2)
                unpacked = int.from_bytes(handle.read(4), "little")
                if unpacked < size - 18:  # wrapped past 4 GiB: no reliable figure
                    return None
                size = unpacked
        total += size
    return total
