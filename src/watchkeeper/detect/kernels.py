"""Compiled matching kernels: one pass over a column's Arrow string views, no Python per event.

Matching ten million events a second leaves about a hundred nanoseconds per event for both
columns, less than NumPy needs just to hash a string column and pick its distinct values. So the
two columns that carry nearly all telemetry volume, DNS names and IP addresses, are matched by
small loops compiled with numba: each event's bytes are read once, straight from the Polars
column's buffers (the Arrow ``string_view`` layout: a 16-byte view per value, strings of up to
twelve bytes inline, longer ones in data buffers), and probed against the index tables.

* A **name** (here) is first tested by its last eight bytes, lower-cased in one 64-bit word, against
  a bitmap of the indicator domains' tails: a name can only equal a domain or end with it, so
  nearly every name is done after one word read. The few others are walked backwards, hashing
  as they go: at each dot the hash so far is that parent's, probed only at the label counts
  some indicator domain has.
* An **address** (:mod:`watchkeeper.detect.address_kernel`) is first tested by its first two
  octets against a bitmap of the /16s that indicators touch; only those are parsed and
  probed.

This module holds what both share: the column's views, the tables' types, the hashes, the
phased probe.

A value the kernel cannot decide (a name with non-ASCII bytes where it reads; in the address
column a value with a colon in its first eight bytes, or longer than a quad) is flagged for
the general vectorised path, so what matches does not depend on which path ran. Hits are
written to caller-supplied arrays; the count is returned even when it exceeds their size, so
the caller can retry with room for all of them.

The kernels are compiled by numba on first use and cached on disk; each keeps its plain
Python form as ``py_func``. Importing this module imports numba (a few hundred milliseconds),
so the rest of the package imports it only where matching is about to happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F = TypeVar("F", bound=Callable[..., Any])

BASIS = np.uint64(0xCBF29CE484222325)  # FNV-1a offset basis and prime: a byte-wise hash
PRIME = np.uint64(0x100000001B3)
MIX1 = np.uint64(0xFF51AFD7ED558CCD)  # the MurmurHash3 finaliser spreads it over all 64 bits
MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
SPREAD = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio, odd
S33 = np.uint64(33)
S29 = np.uint64(29)
S32 = np.uint64(32)
S38 = np.uint64(38)
S56 = np.uint64(56)
B63 = np.uint64(63)
ONE = np.uint64(1)
DOT = 46
INLINE = 12  # a string of up to this many bytes sits in its view
DOMAIN = 2  # what a hit names (address_kernel: 0 and 1); the caller maps to its own codes


class Views(NamedTuple):
    """A string column as the kernels read it.

    ``memory`` spans the column's view buffer and its data buffers, wherever they lie, so
    that a value's first byte is one index into one array whether the value sits in its view
    or in a data buffer: choosing between two arrays per value costs a mispredicted branch
    whenever short and long values alternate, as addresses do. Only the buffers' own bytes are
    ever read through it.
    """

    memory: U8
    words: U32  # (n, 4): length, then either inline bytes or prefix, buffer, offset
    start: int  # where the views begin in ``memory``
    bases: I64  # where each data buffer begins in ``memory``
    present: npt.NDArray[np.bool_]  # empty when no value is null


class Bitmap(NamedTuple):
    """A blocked Bloom filter: each key sets two bits in the 64-bit word its top bits choose.

    A test is one word read, and with about eight bits per key a key that is absent finds
    one of its bits clear about 94% of the time (one bit per key would manage 88%); the words
    stay in cache.
    """

    bits: U64
    shift: np.uint64  # a key's top bits, the word's index, are ``key >> shift``


class Table(NamedTuple):
    """Sorted 64-bit keys with their refs, behind a bitmap and a coarse directory.

    A miss, by far the common case, mostly costs one word read in the bitmap; a hit then
    scans the few keys of its directory bucket (the keys' top bits).
    """

    present: Bitmap
    directory: I64
    dir_shift: np.uint64
    keys: U64
    refs: I64


class Intervals(NamedTuple):
    """IPv4 interval starts (ascending, from 0), the network of each (-1 for none), the refs
    of each network, and where each /16 begins in ``starts``."""

    starts: U32
    labels: npt.NDArray[np.int32]
    offsets: I64
    refs: I64
    by16: I64


class Blocks(NamedTuple):
    """Where a parsed address may hit: one bit per /16 that a network shorter than /24 meets,
    and a Bloom filter of the /24s of the exact addresses and of the longer networks. An
    address in neither has no hit, exact or network, and is not looked up."""

    short16: U64  # 1,024 words: bit n of the map is /16 number n
    by24: Bitmap


class Output(NamedTuple):
    """Hits (row, what, ref) and the rows left to the general path."""

    rows: I64
    what: U8
    refs: I64
    fallback: U8


class _Span:
    """An array interface over the bytes from ``low`` to ``high``; it holds the Arrow array
    whose buffers lie there, so they live as long as the NumPy array made from it."""

    def __init__(self, owner: pa.Array, low: int, high: int) -> None:
        self.owner = owner
        self.__array_interface__ = {
            "data": (low, True),
            "shape": (high - low,),
            "typestr": "|u1",
            "version": 3,
        }


def views(values: pl.Series) -> Views:
    """The column's own buffers, without copying the strings."""
    array = values.cast(pl.String).to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.string_view():
        array = array.cast(pa.string_view())
    buffers = [b for b in array.buffers()[1:] if b is not None and b.size]
    if not len(array) or not buffers:
        return Views(
            _frozen(np.zeros(1, np.uint8)),
            np.zeros((0, 4), np.uint32),
            0,
            np.zeros(1, np.int64),
            np.zeros(0, np.bool_),
        )
    low = min(b.address for b in buffers)
    memory = np.asarray(_Span(array, low, max(b.address + b.size for b in buffers)))
    words = np.frombuffer(array.buffers()[1], np.uint32).reshape(-1, 4)
    data = [b.address - low for b in array.buffers()[2:] if b is not None]
    return Views(
        memory,
        words[array.offset : array.offset + len(array)],
        array.buffers()[1].address - low + 16 * array.offset,
        np.asarray(data or [0], np.int64),
        ~values.is_null().to_numpy() if values.null_count() else np.zeros(0, np.bool_),
    )


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Read-only, like the Arrow buffers: the kernels are compiled for one kind of array."""
    array.flags.writeable = False
    return array


def _jit(function: F) -> F:
    """Compile ``function`` with numba when first called; the cache survives the process.

    With nowhere to write a cache (this folder read-only and no user cache folder) numba
    refuses ``cache=True``; the kernels are then compiled in each process instead.
    """
    try:
        return cast(F, numba.njit(cache=True, nogil=True)(function))
    except RuntimeError:
        return cast(F, numba.njit(nogil=True)(function))


@_jit
def _mix(h: np.uint64) -> np.uint64:
    h ^= h >> S33
    h *= MIX1
    h ^= h >> S33
    h *= MIX2
    h ^= h >> S33
    return h


@_jit
def _spread(word: np.uint64) -> np.uint64:
    """A packed word spread for a bitmap, which reads its top bits and bits 32-43: one odd
    multiplication carries every input bit upwards, one shift brings the top down; cheaper
    than :func:`_mix` on every event, and as good for these keys."""
    word *= SPREAD
    return word ^ (word >> S29)


@_jit
def _probe(
    keys: U64, rows: I64, size: int, table: Table, what: int, out: Output, count: int
) -> int:
    """Hits of the first ``size`` keys (``rows`` says whose), written from ``count`` on.

    A hit costs a chain of dependent reads (bitmap, directory, keys, refs), each a likely
    cache miss in a table of a million keys. Probing key by key would wait for each chain in
    turn; here every step is one loop over all the keys, whose reads do not depend on each
    other, so the processor has many misses in flight at once.
    """
    wanted = np.empty(size, np.int64)
    asked = 0
    for at in range(size):
        if _has(keys[at], table.present):
            wanted[asked] = at
            asked += 1
    low = np.empty(asked, np.int64)
    high = np.empty(asked, np.int64)
    for n in range(asked):
        bucket = keys[wanted[n]] >> table.dir_shift
        low[n] = table.directory[bucket]
        high[n] = table.directory[bucket + ONE]
    for n in range(asked):
        key = keys[wanted[n]]
        for at in range(low[n], high[n]):
            if table.keys[at] == key:
                if count < len(out.rows):
                    out.rows[count] = rows[wanted[n]]
                    out.what[count] = what
                    out.refs[count] = at  # a position until every key is done
                count += 1
    return count


@_jit
def _resolve(table: Table, out: Output, first: int, count: int) -> None:
    """Turn the positions :func:`_probe` wrote into refs."""
    for at in range(first, min(count, len(out.rows))):
        out.refs[at] = table.refs[out.refs[at]]


@_jit
def _tail(memory: U8, base: int, end: int, size: int) -> tuple[np.uint64, bool]:
    """The last ``size`` (at most 8) bytes before ``end``, lower-cased and packed, with the
    size in the top byte when under 8; and whether a byte was not ASCII."""
    word = np.uint64(0)
    high = False
    for j in range(size):
        byte = int(memory[base + end - size + j])
        high |= byte >= 128
        byte += 32 * ((byte >= 65) & (byte <= 90))
        word |= np.uint64(byte) << np.uint64(8 * j)
    if size < 8:
        word |= np.uint64(size) << np.uint64(56)
    return word, high


HIGH = np.uint64(0x8080808080808080)
LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
FROM_A = np.uint64(0x3F3F3F3F3F3F3F3F)  # + byte sets bit 7 from "A" (65) up
PAST_Z = np.uint64(0x2525252525252525)  # + byte sets bit 7 from "[" (91) up
S2 = np.uint64(2)


@_jit
def _tail8(memory: U8, base: int, end: int) -> tuple[np.uint64, bool]:
    """:func:`_tail` of eight bytes, a word at a time: one load, lower-cased in the word, and
    no branch (the word is meaningless when a byte is not ASCII, which is said)."""
    word = _word(memory, max(base + end - 8, 0), 8)
    upper = ((word + FROM_A) & ~(word + PAST_Z)) & HIGH
    return word | (upper >> S2), (word & HIGH) != 0


@_jit
def _word(memory: U8, start: int, size: int) -> np.uint64:
    """``size`` (at most 8) bytes from ``start``, packed first byte lowest."""
    word = np.uint64(0)
    for j in range(size):
        word |= np.uint64(memory[start + j]) << np.uint64(8 * j)
    return word


@_jit
def _has(key: np.uint64, bitmap: Bitmap) -> bool:
    wanted = _bits(key)
    return bool((bitmap.bits[key >> bitmap.shift] & wanted) == wanted)


@_jit
def _bits(key: np.uint64) -> np.uint64:
    """The two bits of ``key`` in its word: from its bits 32-43, apart from the top bits that
    choose the word (a bitmap of more than 2^20 words would share some)."""
    return (ONE << ((key >> S32) & B63)) | (ONE << ((key >> S38) & B63))


@_jit
def tail_keys(values: Views) -> U64:
    """The tail key of each whole string (see :func:`match_names`)."""
    count = len(values.words)
    keys = np.zeros(count, np.uint64)
    for i in range(count):
        base, length = _at(values, i)
        keys[i] = _spread(_tail(values.memory, base, length, min(length, 8))[0])
    return keys


@_jit
def hash_strings(values: Views) -> U64:
    """The key of each whole string, lower-cased (ASCII), as the name kernel computes it."""
    count = len(values.words)
    keys = np.zeros(count, np.uint64)
    for i in range(count):
        base, length = _at(values, i)
        h = BASIS
        for j in range(length - 1, -1, -1):
            byte = int(values.memory[base + j])
            if 65 <= byte <= 90:
                byte += 32
            h = (h ^ np.uint64(byte)) * PRIME
        keys[i] = _mix(h)
    return keys


@_jit
def _at(values: Views, i: int) -> tuple[int, int]:
    """Where value ``i`` begins in ``values.memory``, and its length; without a branch, so
    that short and long values in turn cost no mispredictions."""
    length = int(values.words[i, 0])
    buffer = min(int(values.words[i, 2]), len(values.bases) - 1)  # inline bytes, if inline
    stored = int(values.bases[buffer]) + int(values.words[i, 3])
    inline = values.start + 16 * i + 4
    return (inline if length <= INLINE else stored), length


@_jit
def _candidates(values: Views, first: int, last: int, tails: Bitmap, sizes: I64, found: I64) -> int:
    """The rows from ``first`` to ``last`` whose name could hit (its tail is known, or it
    must be walked to tell), into ``found``; how many."""
    count = 0
    for i in range(first, last):
        if len(values.present) and not values.present[i]:  # invariant: the loop is split
            continue
        base, length = _at(values, i)
        word, high = _tail8(values.memory, base, length)
        # Short names are walked (they are short), and so is one with a trailing dot
        # (``evil.example.``), whose tail is shifted; all tested without a branch.
        possible = (length < 8) | high | (word >> S56 == DOT) | _has(_spread(word), tails)
        if len(sizes) and not possible:
            for size in sizes:
                word, high = _tail(values.memory, base, length, size)
                possible = possible or high or _has(_spread(word), tails)
        if possible:  # rare: a branch predicted right beats a store every time
            found[count] = i
            count += 1
    return count


@_jit
def _walk(
    values: Views, i: int, wanted: npt.NDArray[np.bool_], most: int, keys: U64, asked: int
) -> int:
    """Put the key of name ``i`` and of each parent with a wanted label count in ``keys``
    from ``asked`` on; -1 when a byte is not ASCII (the general path takes the name)."""
    base, end = _at(values, i)
    if end > 0 and values.memory[base + end - 1] == DOT:
        end -= 1
    h = BASIS
    labels = 1
    for j in range(end - 1, -1, -1):
        byte = int(values.memory[base + j])
        if byte == DOT:
            if labels >= 2 and wanted[labels]:
                keys[asked] = _mix(h)
                asked += 1
            labels += 1
            if labels > most:
                return asked
        elif byte >= 128:
            return -1
        elif 65 <= byte <= 90:
            byte += 32
        h = (h ^ np.uint64(byte)) * PRIME
    if wanted[labels]:
        keys[asked] = _mix(h)
        asked += 1
    return asked


BLOCK = 4096  # names tested and walked before their keys are probed together


@_jit
def match_names(
    values: Views,
    table: Table,
    tails: Bitmap,
    sizes: I64,
    wanted: npt.NDArray[np.bool_],
    most: int,
    out: Output,
) -> int:
    """Hits of each name and its parents.

    ``tails`` holds the tail key of every indicator domain: its last eight bytes, or the whole
    domain when shorter (``sizes`` lists such lengths). A name can only equal a domain or end
    with it, so a name whose tail is absent has no hit and is done after one bit test. The
    others are walked while their bytes are in cache: ``wanted[k]`` says some indicator domain
    has k labels, ``most`` is the largest such k. The keys of a block of names are probed
    together, in a loop where the processor overlaps their cache misses.
    """
    candidates = np.empty(BLOCK + 1, np.int64)
    rows = np.empty(BLOCK * (most + 1), np.int64)
    keys = np.empty(BLOCK * (most + 1), np.uint64)
    count = 0
    for first in range(0, len(values.words), BLOCK):
        last = min(first + BLOCK, len(values.words))
        asked = 0
        for i in candidates[: _candidates(values, first, last, tails, sizes, candidates)]:
            walked = _walk(values, i, wanted, most, keys, asked)
            if walked < 0:
                out.fallback[i] = 1
                continue
            while asked < walked:
                rows[asked] = i
                asked += 1
        done = count
        count = _probe(keys, rows, asked, table, DOMAIN, out, count)
        _resolve(table, out, done, count)
    return count


@_jit
def find(keys: U64, table: Table, out: Output) -> int:
    """Hits of precomputed keys (row = position in ``keys``), for the values the name kernel
    leaves to the general path."""
    count = _probe(keys, np.arange(len(keys)), len(keys), table, DOMAIN, out, 0)
    _resolve(table, out, 0, count)
    return count


def empty_output(size: int, rows: int) -> Output:
    """Room for ``size`` hits over ``rows`` rows."""
    return Output(
        np.zeros(size, np.int64),
        np.zeros(size, np.uint8),
        np.zeros(size, np.int64),
        np.zeros(rows, np.uint8),
    )
