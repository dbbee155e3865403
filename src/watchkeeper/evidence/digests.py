"""One read pass over content: MD5, SHA-1, SHA-256 (and BLAKE3 when installed) together.

Why threads: hashlib releases the GIL while hashing a buffer larger than 2 KiB, so each digest
and the vault write run in their own worker thread over the same read buffer while the main
thread reads the next chunk into a second buffer (double buffering). On two cores the pass is
then bound by the slowest digest (MD5), not by the sum of the three as one thread would be; a
process per digest would cost a copy of every chunk through a pipe for nothing. Memory is two
buffers whatever the file size.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import importlib
import mmap
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

CHUNK = 4 * 1024 * 1024
ALIGN = 4096
"""Direct writes are whole blocks of this size (a multiple of every common block size)."""
DIRECT = getattr(os, "O_DIRECT", 0)
"""``O_DIRECT`` where the platform has it (Linux), else 0 (then never used)."""

try:  # optional: BLAKE3 only when the package is installed
    _blake3: Any = importlib.import_module("blake3")
except ImportError:  # pragma: no cover - depends on the environment
    _blake3 = None


@dataclass(frozen=True)
class Digests:
    """Hex digests and size of one content stream."""

    size: int
    md5: str
    sha1: str
    sha256: str
    blake3: str | None = None


def write_chunk(fd: int, data: memoryview) -> None:
    """Write all of ``data`` to ``fd`` (a separate function so tests can simulate a full disk)."""
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _buffered(fd: int) -> None:
    """Turn direct I/O off on ``fd`` (for a last, unaligned chunk, or where it is refused)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~DIRECT)


def _write(fd: int, data: memoryview, *, direct: bool) -> bool:
    """Write ``data``; whether ``fd`` still writes directly afterwards.

    Direct writes (``O_DIRECT``) go from the page-aligned buffer to the disk without a copy
    through the page cache, which on two cores leaves the CPU to the digests. They need whole
    aligned blocks: a chunk that is not whole (the file's last one) turns direct I/O off and is
    written through the cache; so does a file system that refuses a direct write.
    """
    if direct and len(data) % ALIGN:
        _buffered(fd)
        direct = False
    try:
        write_chunk(fd, data)
    except OSError as exc:
        if not direct or exc.errno != errno.EINVAL:
            raise
        _buffered(fd)
        write_chunk(fd, data)  # nothing was written: the offset is where it was
        direct = False
    return direct


def _hashers() -> dict[str, Any]:
    hashers: dict[str, Any] = {
        "md5": hashlib.md5(usedforsecurity=False),
        "sha1": hashlib.sha1(usedforsecurity=False),
        "sha256": hashlib.sha256(),
    }
    if _blake3 is not None:
        hashers["blake3"] = _blake3.blake3()
    return hashers


def _copy(fd: int, data: memoryview, state: dict[str, bool]) -> None:
    """The write of one chunk (one at a time, in order: each waits for the previous)."""
    state["direct"] = _write(fd, data, direct=state["direct"])


def digest_file(
    source: int,
    *,
    sink: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
    direct: bool = False,
) -> Digests:
    """Hash everything readable from file descriptor ``source`` once; copy it to ``sink`` too.

    ``on_chunk`` receives the byte count of each chunk as it is read (progress). ``direct``:
    ``sink`` was opened with ``O_DIRECT`` (see :func:`_write`); the buffers are then
    page-aligned (anonymous maps), as direct I/O requires.
    """
    hashers = _hashers()
    direct = direct and sink is not None and chunk % ALIGN == 0
    buffers: list[Any] = (
        [mmap.mmap(-1, chunk), mmap.mmap(-1, chunk)]
        if direct
        else [bytearray(chunk), bytearray(chunk)]
    )
    state = {"direct": direct}
    size = 0
    workers = len(hashers) + (1 if sink is not None else 0)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evidence-hash") as pool:
        pending: list[Any] = []
        index = 0
        while True:
            buffer = buffers[index]
            count = os.readv(source, [buffer])
            # The other buffer's work must finish before its chunk is replaced, and in order.
            for future in pending:
                future.result()
            if count == 0:
                break
            view = memoryview(buffer)[:count]
            size += count
            pending = [pool.submit(h.update, view) for h in hashers.values()]
            if sink is not None:
                pending.append(pool.submit(_copy, sink, view, state))
            if on_chunk is not None:
                on_chunk(count)
            index ^= 1
    values = {name: h.hexdigest() for name, h in hashers.items()}
    return Digests(
        size=size,
        md5=values["md5"],
        sha1=values["sha1"],
        sha256=values["sha256"],
        blake3=values.get("blake3"),
    )
