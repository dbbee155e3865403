"""``detect serve``: telemetry consumed continuously from a directory being written to.

Each file is read from where the last pass stopped, complete lines only; its offset, line
number and (for Zeek TSV) header lines are a cursor committed in the same transaction as the
alerts of those lines, so a killed follower resumes exactly where it stopped: nothing read
twice, nothing skipped. A file that shrinks or is replaced (log rotation) is read from its
start. A gzip file is read once, whole, when it has stopped growing (rotated logs).
"""

from __future__ import annotations

import hashlib
import io
import os
import select
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
from sqlalchemy.orm import Session

from watchkeeper.detect.detector import Detector
from watchkeeper.detect.formats import detect_telemetry_format
from watchkeeper.detect.models import Cursor
from watchkeeper.detect.telemetry import Batch, read_stream, read_telemetry
from watchkeeper.errors import InvalidInput

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 8 << 20
SAMPLE_BYTES = 64 << 10
MALFORMED_KEPT = 20


@dataclass
class Position:
    """Where reading a file stopped."""

    offset: int = 0
    line: int = 0  # lines consumed
    inode: int = 0
    header: str = ""  # Zeek TSV header lines, needed to parse what follows
    format: str = ""

    def value(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "line": self.line,
            "inode": self.inode,
            "header": self.header,
            "format": self.format,
        }


def _cursor_name(path: Path) -> str:
    return f"follow:{path}"[:1000]


def _files(directory: Path) -> Iterator[Path]:
    for root, folders, names in os.walk(directory):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and not name.endswith((".tmp", ".part")):
                yield Path(root) / name


def _header(data: bytes, *, csv: bool = False) -> str:
    """The leading ``#`` lines of a Zeek TSV log, or a CSV file's header row: what later
    chunks need to be parsed."""
    if csv:
        return data.split(b"\n", 1)[0].decode("utf-8", "replace") + "\n"
    lines = []
    for line in data.split(b"\n"):
        if not line.startswith(b"#"):
            break
        lines.append(line.decode("utf-8", "replace"))
    return "\n".join(lines) + "\n" if lines else ""


class Follower:
    """Polls a directory and feeds new complete lines to a :class:`Detector`."""

    def __init__(
        self,
        *,
        detector: Detector,
        directory: Path,
        format: str = "auto",
        mapping: Path | None = None,
    ) -> None:
        if not directory.is_dir():
            raise InvalidInput(f"{directory}: not a directory to follow", file=str(directory))
        self.detector = detector
        self.directory = directory
        self.format = format
        self.mapping = mapping
        self.malformed_count = 0
        self.malformed: list[str] = []
        self._sizes: dict[Path, int] = {}

    def _position(self, path: Path) -> Position:
        with self.detector.node.database.reader() as session:
            cursor = session.get(Cursor, _cursor_name(path))
            return Position(**cursor.value) if cursor else Position()

    def _consumed(self, path: Path, position: Position) -> Any:
        now = self.detector.node.clock.now()

        def save(session: Session) -> None:
            cursor = session.get(Cursor, _cursor_name(path))
            if cursor is None:
                session.add(Cursor(name=_cursor_name(path), value=position.value(), updated_at=now))
            else:
                cursor.value, cursor.updated_at = position.value(), now

        return save

    def poll(self) -> int:
        """One pass over the directory; returns the events processed."""
        events = 0
        for path in _files(self.directory):
            try:
                events += self._file(path)
            except OSError as exc:  # vanished or unreadable: next pass
                self._note(f"{path}: cannot read: {exc.strerror or exc}")
        return events

    def _note(self, text: str) -> None:
        self.malformed_count += 1
        if len(self.malformed) < MALFORMED_KEPT:
            self.malformed.append(text)

    def _record(self, batches: list[Batch]) -> pl.DataFrame | None:
        return _collect(self, batches)

    def _file(self, path: Path) -> int:
        stat = path.stat()
        position = self._position(path)
        if position.inode and (position.inode != stat.st_ino or stat.st_size < position.offset):
            position = Position()  # rotated or truncated: a new file under the old name
        if stat.st_size <= position.offset:
            return 0
        with path.open("rb") as handle:
            magic = handle.read(2)
        if magic == GZIP_MAGIC:
            return self._whole(path, stat, position)
        return self._tail(path, stat, position)

    def _whole(self, path: Path, stat: os.stat_result, position: Position) -> int:
        previous = self._sizes.get(path)
        self._sizes[path] = stat.st_size
        if previous != stat.st_size:  # still being written: wait for a pass where it is stable
            return 0
        frame = self._record(
            list(read_telemetry(paths=[str(path)], format=self.format, mapping=self.mapping))
        )
        done = Position(offset=stat.st_size, inode=stat.st_ino, format=self.format)
        return self._process(path, frame, done)

    def _tail(self, path: Path, stat: os.stat_result, position: Position) -> int:
        events = 0
        while position.offset < stat.st_size:
            with path.open("rb") as handle:
                handle.seek(position.offset)
                data = handle.read(min(CHUNK_BYTES, stat.st_size - position.offset))
            end = data.rfind(b"\n")
            if end < 0:
                if len(data) >= CHUNK_BYTES:  # one endless line: skip it, say so
                    self._note(f"{path}:{position.line + 1}: line longer than {CHUNK_BYTES} bytes")
                    position.offset += len(data)
                    continue
                break  # an incomplete last line: the writer is not done with it
            data = data[: end + 1]
            if position.offset == 0:
                position.format = (
                    self.format
                    if self.format != "auto"
                    else detect_telemetry_format(sample=data[:SAMPLE_BYTES], name=path.name)
                )
                position.header = _header(data, csv=position.format == "csv")
            prefix = position.header.encode() if position.offset else b""
            first_line = position.line + 1 - (prefix.count(b"\n") if prefix else 0)
            frame = self._record(
                list(
                    read_stream(
                        stream=io.BytesIO(prefix + data),
                        name=str(path),
                        format=position.format or self.format,
                        mapping=self.mapping,
                        first_line=first_line,
                    )
                )
            )
            position.offset += len(data)
            position.line += data.count(b"\n")
            position.inode = stat.st_ino
            events += self._process(path, frame, position)
        return events

    def _process(self, path: Path, frame: pl.DataFrame | None, position: Position) -> int:
        saved = Position(**position.value())
        consumed = self._consumed(path, saved)
        key = f"{path}|{saved.inode}|{saved.offset}".encode()
        name = f"follow-{hashlib.sha256(key).hexdigest()[:32]}"
        if frame is None or not frame.height:
            with self.detector.node.database.transaction() as session:
                consumed(session)
            return 0
        self.detector.process(frame, consumed=consumed, name=name)
        return frame.height


def follow_stream(
    *,
    detector: Detector,
    stream: BinaryIO,
    name: str = "<stdin>",
    format: str,
    mapping: Path | None = None,
    batch_lines: int = 50_000,
    flush_seconds: float = 2.0,
    stopped: Callable[[], bool] = lambda: False,
) -> tuple[int, list[str], int]:
    """Consume a stream (standard input) until it ends: lines are detected on in batches of
    ``batch_lines`` or every ``flush_seconds``, whichever comes first. Returns the events,
    the first malformed lines and their count."""
    if format == "auto":
        raise InvalidInput(
            "reading standard input continuously needs --format (auto-detection needs a file)",
            field="format",
        )
    pending: list[bytes] = []
    header: list[bytes] = []
    line = 0
    events = 0
    follower = _StreamState()
    last = time.monotonic()

    def flush() -> None:
        nonlocal pending, line, events, last
        if pending:
            prefix = b"".join(header) if line else b""
            data = b"".join(pending)
            batches = list(
                read_stream(
                    stream=io.BytesIO(prefix + data),
                    name=name,
                    format=format,
                    mapping=mapping,
                    first_line=line + 1 - len(header) if line else 1,
                )
            )
            frame = follower.record(batches)
            line += len(pending)
            if frame is not None and frame.height:
                detector.process(frame)
                events += frame.height
            pending = []
        last = time.monotonic()

    while not stopped():
        if hasattr(stream, "fileno"):
            try:
                ready, _, _ = select.select([stream], [], [], flush_seconds)
            except (OSError, ValueError, io.UnsupportedOperation):
                ready = [stream]
            if not ready:
                flush()
                continue
        raw = stream.readline()
        if not raw:
            break
        raw = raw if raw.endswith(b"\n") else raw + b"\n"
        if raw.startswith(b"#") and line == 0 and len(header) == len(pending):
            header.append(raw)  # Zeek TSV header: needed again to parse each later batch
        pending.append(raw)
        if len(pending) >= batch_lines or time.monotonic() - last >= flush_seconds:
            flush()
    flush()
    return events, follower.malformed, follower.malformed_count


class _StreamState:
    """Malformed lines seen while following a stream."""

    def __init__(self) -> None:
        self.malformed_count = 0
        self.malformed: list[str] = []

    def record(self, batches: list[Batch]) -> pl.DataFrame | None:
        return _collect(self, batches)


def _collect(state: Follower | _StreamState, batches: list[Batch]) -> pl.DataFrame | None:
    """The batches' rows as one frame; their malformed lines counted on ``state``."""
    frames: list[pl.DataFrame] = []
    for batch in batches:
        state.malformed_count += batch.malformed_count
        room = MALFORMED_KEPT - len(state.malformed)
        state.malformed.extend(
            f"{bad.path}:{bad.line}: {bad.reason}" for bad in batch.malformed[: max(room, 0)]
        )
        if batch.frame.height:
            frames.append(batch.frame)
    if not frames:
        return None
    return pl.concat(frames, how="diagonal_relaxed")
