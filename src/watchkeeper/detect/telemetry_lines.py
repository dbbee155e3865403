"""Cutting a byte stream into chunks of whole lines, with line numbers, without a loop per line.

Readers parse a chunk at a time with Polars; what they need from the bytes is where each line
starts and ends, which lines are blank, and a way to hand over only some lines (the good ones,
or only data lines) as one buffer. All of that is computed with NumPy over the chunk.

A line longer than the limit is never kept: it is replaced by an empty line (so numbering of
the lines after it stays right) and reported, and its bytes are dropped as they stream past.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CHUNK_BYTES = 16 << 20  # a chunk is cut here even when it has fewer lines than asked:
# parsers run faster on pieces that fit in cache, and memory per batch stays bounded

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Malformed:
    """A line that could not be read, and why."""

    path: str
    line: int
    reason: str


class Chunk:
    """Whole lines (each ending with a newline) and the number of the first one."""

    def __init__(self, *, data: bytes, first_line: int, path: str) -> None:
        self.data = data
        self.first_line = first_line
        self.path = path
        codes = np.frombuffer(data, np.uint8)
        newlines = np.flatnonzero(codes == 10).astype(np.int64)
        starts = np.zeros(len(newlines), np.int64)
        starts[1:] = newlines[:-1] + 1
        carriage = (newlines > starts) & (codes[np.maximum(newlines - 1, 0)] == 13)
        self.starts: I64 = starts
        self.newlines: I64 = newlines
        self.ends: I64 = newlines - carriage  # end of content, without "\r\n"
        self.has_carriage = bool(carriage.any())
        lengths = self.ends - starts
        self.blank: Mask = lengths == 0
        first = codes[np.minimum(starts, max(len(codes) - 1, 0))] if len(codes) else codes
        self.first_byte = np.where(self.blank, 0, first).astype(np.uint8)
        self._codes = codes

    def __len__(self) -> int:
        return len(self.starts)

    def line(self, index: int) -> bytes:
        """The content of one line (0-based within the chunk), without its line end."""
        return self.data[int(self.starts[index]) : int(self.ends[index])]

    def numbers(self, mask: Mask) -> I64:
        """The 1-based file line numbers of the lines picked by ``mask``."""
        return (np.flatnonzero(mask) + self.first_line).astype(np.int64)

    def count_byte(self, byte: int) -> I64:
        """How many times ``byte`` occurs on each line (e.g. separators, for a column count)."""
        where = np.flatnonzero(self._codes == byte)
        found = np.searchsorted(where, self.ends) - np.searchsorted(where, self.starts)
        return found.astype(np.int64)

    def select(self, mask: Mask) -> bytes:
        """The lines picked by ``mask`` as one buffer, each with its own line end ("\\r\\n"
        lines keep it: JSON and CSV readers take either, the others strip it)."""
        if bool(mask.all()):
            return self.data
        picked = np.flatnonzero(mask)
        if not len(picked):
            return b""
        # Contiguous runs of picked lines are copied in one slice each.
        breaks = np.flatnonzero(np.diff(picked) != 1)
        firsts = np.concatenate(([picked[0]], picked[breaks + 1]))
        lasts = np.concatenate((picked[breaks], [picked[-1]]))
        return b"".join(
            self.data[int(self.starts[a]) : int(self.newlines[b]) + 1]
            for a, b in zip(firsts, lasts, strict=True)
        )


def _too_long(data: bytes, *, limit: int) -> tuple[bytes, list[int], int]:
    """``data`` with lines over ``limit`` bytes emptied, their indexes, and the line count."""
    codes = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(codes == 10)
    lengths = np.diff(newlines, prepend=-1) - 1
    long = np.flatnonzero(lengths > limit)
    if not len(long):
        return data, [], len(newlines)
    parts, start = [], 0
    for index in long.tolist():
        begin = 0 if index == 0 else int(newlines[index - 1]) + 1
        parts.append(data[start:begin])
        parts.append(b"\n")
        start = int(newlines[index]) + 1
    parts.append(data[start:])
    return b"".join(parts), long.tolist(), len(newlines)


def split_chunks(
    blocks: Iterable[bytes],
    *,
    path: str,
    first_line: int = 1,
    max_lines: int,
    max_line_bytes: int,
) -> Iterator[tuple[Chunk, list[Malformed]]]:
    """Chunks of at most ``max_lines`` whole lines, and the over-long lines found in each.

    ``blocks`` are consecutive pieces of the stream of any size; a last line without a line
    end is still a line.
    """
    reason = f"line longer than {max_line_bytes} bytes"
    out: list[bytes] = []
    out_lines = out_bytes = 0
    out_first = first_line  # number of the first line of ``out``
    bad: list[Malformed] = []
    tail = b""
    skipping = False  # inside an over-long line whose bytes are being dropped

    def flush() -> Iterator[tuple[Chunk, list[Malformed]]]:
        nonlocal out, out_lines, out_bytes, out_first, bad
        if not out_lines:
            return
        end = out_first + out_lines
        mine = [item for item in bad if item.line < end]
        bad = [item for item in bad if item.line >= end]
        chunk = Chunk(data=b"".join(out), first_line=out_first, path=path)
        out, out_first, out_lines, out_bytes = [], end, 0, 0
        yield chunk, mine

    def add(complete: bytes) -> Iterator[tuple[Chunk, list[Malformed]]]:
        nonlocal out_lines, out_bytes
        base = out_first + out_lines
        complete, long, count = _too_long(complete, limit=max_line_bytes)
        bad.extend(Malformed(path, base + index, reason) for index in long)
        if out_lines + count <= max_lines:
            out.append(complete)
            out_lines += count
            out_bytes += len(complete)
        else:
            newlines = np.flatnonzero(np.frombuffer(complete, np.uint8) == 10)
            position = 0
            while position < count:
                take = min(max_lines - out_lines, count - position)
                begin = 0 if position == 0 else int(newlines[position - 1]) + 1
                out.append(complete[begin : int(newlines[position + take - 1]) + 1])
                out_lines += take
                position += take
                if out_lines >= max_lines:
                    yield from flush()
        if out_lines >= max_lines or out_bytes >= CHUNK_BYTES:
            yield from flush()

    for block in blocks:
        if skipping:
            newline = block.find(b"\n")
            if newline < 0:
                continue
            block, skipping = block[newline + 1 :], False
        buffer = tail + block if tail else block
        cut = buffer.rfind(b"\n") + 1
        complete, tail = buffer[:cut], buffer[cut:]
        if complete:
            yield from add(complete)
        if len(tail) > max_line_bytes:
            bad.append(Malformed(path, out_first + out_lines, reason))
            yield from add(b"\n")
            tail, skipping = b"", True
    if tail:
        yield from add(tail + b"\n")
    yield from flush()
