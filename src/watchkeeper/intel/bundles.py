"""Reading STIX objects out of a bundle, a list of objects or a single object.

Inputs up to ``IN_MEMORY_BYTES`` are parsed whole with orjson (fast, and a syntax error is
reported with line, column and byte offset). Larger ones are streamed with ijson's C backend,
so memory stays bounded however many objects the bundle holds; there, one object may not
span more than ``MAX_OBJECT_BYTES`` of input, which bounds hostile input such as a single
object holding millions of array items (the reader refuses to read further).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import ijson
import orjson

from watchkeeper.errors import InvalidInput
from watchkeeper.intel.inputs import BoundedReader

IN_MEMORY_BYTES = 96 * 1024**2
MAX_OBJECT_BYTES = 16 * 1024**2
READ_CHUNK = 64 * 1024  # what ijson asks the reader for at a time


def read_objects(stream: BoundedReader) -> Iterator[Any]:
    """Each STIX object of the stream, in order (not yet checked: see ``stix.prepare``)."""
    head = stream.read(IN_MEMORY_BYTES + 1)
    if len(head) <= IN_MEMORY_BYTES:
        yield from _whole(head, name=stream.name)
    else:
        yield from _streamed(head, stream)


def _whole(data: bytes, *, name: str) -> Iterator[Any]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"{name}: malformed JSON at line {exc.lineno}, column {exc.colno} "
            f"(byte {exc.pos}): {exc.msg}",
            file=name,
            line=exc.lineno,
            column=exc.colno,
            offset=exc.pos,
        ) from None
    if isinstance(document, list):
        yield from document
    elif isinstance(document, dict) and document.get("type") == "bundle":
        objects = document.get("objects", [])
        if not isinstance(objects, list):
            raise InvalidInput(f"{name}: bundle 'objects' is not a list", file=name)
        yield from objects
    elif isinstance(document, dict):
        yield document
    else:
        raise InvalidInput(f"{name}: expected a STIX bundle, object or list", file=name)


class _Prefixed:
    """A stream that first replays bytes already read."""

    def __init__(self, head: bytes, rest: BoundedReader) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            size = len(self._head) if size < 0 else size
            chunk, self._head = bytes(self._head[:size]), self._head[size:]
            return chunk
        return self._rest.read(size)


def _streamed(head: bytes, stream: BoundedReader) -> Iterator[Any]:
    """Objects parsed by ijson's C backend, each bounded by ``MAX_OBJECT_BYTES`` of input."""
    path = "item" if head.lstrip()[:1] == b"[" else "objects.item"
    # The parser reads a chunk ahead of the object it is building, hence the slack.
    stream.limit_window(MAX_OBJECT_BYTES + len(head) + READ_CHUNK)
    try:
        for obj in ijson.items(_Prefixed(head, stream), path, use_float=True, buf_size=READ_CHUNK):
            stream.mark()
            yield obj
    except ijson.JSONError as exc:
        reason = str(exc).splitlines()[0]
        raise InvalidInput(
            f"{stream.name}: malformed JSON near byte {stream.position}: {reason}",
            file=stream.name,
            offset=stream.position,
        ) from None


def first(iterator: Iterator[Any], count: int) -> list[Any]:
    """Up to ``count`` items (helper for batching)."""
    return list(itertools.islice(iterator, count))
