"""Opening what an import reads: files, directories, gzip, standard input, with bounds.

Every stream is read through a counter that refuses to go past ``max_bytes`` of (decompressed)
data, so a gzip bomb or an endless pipe ends with a clear error instead of filling memory or
disk. Directories are walked in name order, so a re-run sees the same sequence.
"""

from __future__ import annotations

import glob
import gzip
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from watchkeeper.errors import InvalidInput

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_BYTES = 4 * 1024**3


class BoundedReader(io.RawIOBase):
    """A read-only stream that counts bytes and fails past a limit."""

    def __init__(self, inner: BinaryIO, *, name: str, max_bytes: int) -> None:
        self._inner = inner
        self.name = name
        self.max_bytes = max_bytes
        self.position = 0
        self._window: int | None = None
        self._mark = 0

    def limit_window(self, window: int) -> None:
        """Fail when more than ``window`` bytes are read after the last :meth:`mark`.

        A streaming parser reads ahead in chunks while it builds one object, so this bounds
        the size of any single object without parsing it twice.
        """
        self._window, self._mark = window, self.position

    def mark(self) -> None:
        """An object ended here."""
        self._mark = self.position

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self.position += len(data)
        if self.position > self.max_bytes:
            raise InvalidInput(
                f"{self.name}: more than {self.max_bytes} bytes (after decompression); "
                "refused as a safeguard",
                file=self.name,
            )
        if self._window is not None and self.position - self._mark > self._window:
            raise InvalidInput(
                f"{self.name}: the object starting near byte {self._mark} exceeds "
                f"{self._window} bytes; refused as a safeguard",
                file=self.name,
                offset=self._mark,
            )
        buffer[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class Input:
    """One named source of bytes."""

    name: str
    path: Path | None  # None for standard input


def _directory(path: Path) -> list[Input]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [Input(str(p), p) for p in files]


def expand(paths: list[str]) -> list[Input]:
    """Files, directory contents (recursively, sorted), glob patterns (``logs/*.log.gz``,
    ``**`` for any depth; matches sorted) and ``-`` for stdin, in order."""
    inputs: list[Input] = []
    for text in paths:
        if text == "-":
            inputs.append(Input("<stdin>", None))
            continue
        path = Path(text)
        if path.is_dir():
            inputs.extend(_directory(path))
        elif path.is_file():
            inputs.append(Input(str(path), path))
        elif any(char in text for char in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not matches:
                raise InvalidInput(f"{text}: no file matches this pattern", file=text)
            for match in matches:
                if match.is_dir():
                    inputs.extend(_directory(match))
                elif match.is_file():
                    inputs.append(Input(str(match), match))
        else:
            raise InvalidInput(f"{text}: no such file or directory", file=text)
    return inputs


@contextmanager
def open_input(source: Input, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[BoundedReader]:
    """The input's bytes, gunzipped when they start with the gzip magic number."""
    raw = sys.stdin.buffer if source.path is None else source.path.open("rb")
    try:
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
        stream: BinaryIO = buffered
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        reader = BoundedReader(stream, name=source.name, max_bytes=max_bytes)
        try:
            yield reader
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InvalidInput(f"{source.name}: cannot read: {exc}", file=source.name) from None
    finally:
        if source.path is not None:
            raw.close()
