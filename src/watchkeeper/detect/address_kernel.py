"""The compiled kernel for IP-address columns (see :mod:`watchkeeper.detect.kernels`).

An address is first tested by its first two octets, as text up to the second dot, against a
Bloom filter of the /16s that an indicator address or network touches. Only those are parsed
as canonical dotted quads (the rules of :func:`watchkeeper.detect.index.parse_ipv4`), and only
those near an indicator (:class:`~watchkeeper.detect.kernels.Blocks`) are looked up: exact by
number, networks through a directory of where each /16 begins among the longest-prefix
intervals. A value with a colon in its first eight bytes, or longer than any quad, is left to
the general path (IPv6).
"""

from __future__ import annotations

import numpy as np

from watchkeeper.detect.kernels import (
    HIGH,
    LOW7,
    ONE,
    U8,
    U32,
    U64,
    Bitmap,
    Blocks,
    Intervals,
    Output,
    Table,
    Views,
    _at,
    _has,
    _jit,
    _mix,
    _probe,
    _resolve,
    _spread,
    _word,
)

ADDRESS_SALT = np.uint64(0x1F3D5B79)  # the finaliser maps 0 to 0; 0.0.0.0 must not be 0
COLON = 58
DOT = 46
EXACT_IPV4, CIDR4 = 0, 1  # what a hit names (kernels.DOMAIN is 2)


WITHIN = np.asarray([(1 << (8 * n)) - 1 for n in range(8)] + [2**64 - 1], np.uint64)
COLONS = np.uint64(0x3A3A3A3A3A3A3A3A)
DOTS = np.uint64(0x2E2E2E2E2E2E2E2E)


@_jit
def _bytes_equal(word: np.uint64, pattern: np.uint64) -> np.uint64:
    """Bit 7 of each byte of ``word`` equal to that byte of ``pattern`` (exact: no borrows)."""
    v = word ^ pattern
    return ~(((v & LOW7) + LOW7) | v) & HIGH


@_jit
def _head(memory: U8, base: int, length: int) -> tuple[np.uint64, bool]:
    """The key of an address's first two octets and their dots (``203.0.``), and whether the
    general path must decide the value (a colon in its first eight bytes, where IPv6 has one,
    or longer than any quad); a key of 0 when it cannot be a canonical dotted quad.

    Eight bytes are read whatever the length: a value of up to twelve bytes sits in its
    16-byte view, zero-padded, and a longer one has them.
    """
    first = _word(memory, base, 8) & WITHIN[min(length, 8)]
    # A longer value is never a quad; it may be IPv6 with its first colon further on
    # (after spaces), so the general path decides it.
    general = (_bytes_equal(first, COLONS) != 0) | (length > 15)
    dots = _bytes_equal(first, DOTS)
    second = dots & (dots - ONE)  # without the first dot
    through = ((second & (~second + ONE)) << ONE) - ONE  # the bytes up to the second dot
    key = _spread(first & through)
    # Computed whatever the answer, then chosen: no branch to mispredict on mixed input.
    quad = (second != 0) & (length >= 7) & (length <= 15) & ~general
    return (key if quad else np.uint64(0)), general


@_jit
def _address_key(number: int) -> np.uint64:
    return _mix(np.uint64(number) + ADDRESS_SALT)


@_jit
def address_keys(numbers: U32) -> U64:
    """The key of each IPv4 address number."""
    keys = np.zeros(len(numbers), np.uint64)
    for i in range(len(numbers)):
        keys[i] = _address_key(numbers[i])
    return keys


@_jit
def _quad(memory: U8, base: int, length: int) -> int:
    """The number of a canonical dotted quad, or -1 (no leading zeros, octets up to 255)."""
    number = 0
    octet = 0
    digits = 0
    dots = 0
    for j in range(length):
        byte = int(memory[base + j])
        if 48 <= byte <= 57:
            if digits > 0 and octet == 0:
                return -1  # a leading zero
            octet = octet * 10 + (byte - 48)
            digits += 1
            if octet > 255:
                return -1
        elif byte == DOT and digits > 0:
            number = number * 256 + octet
            octet = 0
            digits = 0
            dots += 1
        else:
            return -1
    if dots != 3 or digits == 0:
        return -1
    return number * 256 + octet


@_jit
def _near(number: int, blocks: Blocks) -> bool:
    top = number >> 16
    if (blocks.short16[top >> 6] >> np.uint64(top & 63)) & ONE:
        return True
    return _has(_spread(np.uint64(number >> 8)), blocks.by24)


@_jit
def match_addresses(
    values: Views, table: Table, networks: Intervals, heads: Bitmap, blocks: Blocks, out: Output
) -> int:
    """Hits of each canonical dotted quad: exact, then the longest network around it.

    Most addresses are in no /16 that an indicator address or network touches, which their
    first two octets tell without parsing (``heads`` holds the keys of the touched ones, as
    text: ``203.0.``). The others are parsed; those whose /24 or /16 ``blocks`` says may hit
    are looked up, in tight loops of their own where the processor overlaps cache misses.
    """
    rows = np.empty(len(values.words), np.int64)
    numbers = np.empty(len(values.words), np.int64)
    found = 0
    for i in range(len(values.words)):
        if len(values.present) and not values.present[i]:
            continue
        base, length = _at(values, i)
        key, general = _head(values.memory, base, length)
        if general:
            out.fallback[i] = 1
        if (key != 0) & _has(key, heads):
            rows[found] = i
            numbers[found] = _quad(values.memory, base, length)
            found += 1
    keys = np.empty(found, np.uint64)
    quads = np.empty(found, np.int64)
    size = 0
    for at in range(found):
        if numbers[at] >= 0 and not _near(numbers[at], blocks):
            numbers[at] = -1  # no indicator near: neither probed nor searched
        if numbers[at] >= 0:
            keys[size] = _address_key(numbers[at])
            quads[size] = rows[at]
            size += 1
    count = _probe(keys, quads, size, table, EXACT_IPV4, out, 0)
    _resolve(table, out, 0, count)
    if len(networks.refs) == 0:
        return count
    for at in range(found):
        number = numbers[at]
        if number < 0:
            continue
        top = number >> 16
        low, high = networks.by16[top], networks.by16[top + 1]
        while low < high:  # the last start at or below the address, within its /16
            middle = (low + high) >> 1
            if networks.starts[middle] <= number:
                low = middle + 1
            else:
                high = middle
        label = networks.labels[low - 1]
        if label < 0:
            continue
        for ref in range(networks.offsets[label], networks.offsets[label + 1]):
            if count < len(out.rows):
                out.rows[count] = rows[at]
                out.what[count] = CIDR4
                out.refs[count] = networks.refs[ref]
            count += 1
    return count


@_jit
def head_keys(values: Views) -> U64:
    """The key of each text (``203.0.``) as :func:`match_addresses` computes it."""
    keys = np.zeros(len(values.words), np.uint64)
    for i in range(len(values.words)):
        base, length = _at(values, i)
        keys[i] = _spread(_word(values.memory, base, min(length, 8)))
    return keys


@_jit
def block_keys(blocks: U64) -> U64:
    """The key of each /24 number, as :func:`match_addresses` computes it."""
    keys = np.zeros(len(blocks), np.uint64)
    for i in range(len(blocks)):
        keys[i] = _spread(blocks[i])
    return keys
