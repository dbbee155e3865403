"""The indicator index: every matchable value of the intelligence store, compiled into arrays.

Matching millions of telemetry events per second rules out a Python object per indicator or
per event, so the index is a handful of NumPy arrays:

* **domains and IPv4 addresses**, which nearly all telemetry volume is matched on, are laid out
  for the compiled kernels of :mod:`watchkeeper.detect.kernels`: domains by a byte-wise hash
  of their text, with a bitmap of their last eight bytes in front; addresses by their number,
  with a bitmap of the /16s that an address or network touches; IPv4 networks as below, with a
  directory of where each /16 begins among the intervals.
* **other exact strings** (URLs, e-mail addresses, hashes, IPv6 addresses in their canonical
  text) become 64-bit hashes (Polars' native string hash), sorted, with the indicator
  ref of each beside it. In front of every sorted table sits a byte-per-slot filter addressed by
  the top bits of the hash, at least four slots per entry: most event values miss, and a miss
  then costs one gather instead of a binary search. A 64-bit hash stands in for the string
  itself (the strings are not kept, which halves the memory): two different values collide with
  probability about 2^-64 per pair, far below any other error of the pipeline.
* **IPv4 networks** are flattened into disjoint elementary intervals, each labelled with the
  longest prefix that covers it: a lookup is one binary search over the interval starts, and the
  longest-prefix rule is paid once at build time.
* **IPv6 networks** are rare in intelligence and telemetry alike; they stay in per-prefix-length
  dictionaries of Python ints, consulted only for the distinct IPv6 values of a batch.

Refs are integers chosen by the caller; compiled from the store they are the ``seq`` of the
indicator version, which names the indicator and its sources.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
from sqlalchemy.orm import Session

from watchkeeper.intel import ScoringPolicy, active_values

if TYPE_CHECKING:
    from watchkeeper.detect.kernels import Bitmap, Blocks, Intervals, Table

SEED = 0x5A17  # one seed for index and events: both sides must hash alike
EXACT_KINDS = ("ipv4", "ipv6", "domain", "url", "email", "md5", "sha1", "sha256", "sha512")
NETWORK_KINDS = ("cidr4", "cidr6")
COMPILED_KINDS = ("domain", "ipv4")  # matched by the compiled kernels
KINDS = EXACT_KINDS + NETWORK_KINDS
SLOTS_PER_ENTRY = 4
WIDTH = 15  # characters of the longest dotted quad

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def string_hashes(values: pl.Series) -> U64:
    """The 64-bit hash of each string (nulls hash too; callers drop them)."""
    return values.hash(SEED).to_numpy().astype(np.uint64, copy=False)


@dataclass(frozen=True)
class HashTable:
    """Sorted 64-bit keys (duplicates allowed: one value, many indicators) and their refs."""

    keys: U64
    refs: I64
    filter: npt.NDArray[np.bool_]
    shift: np.uint64

    @classmethod
    def build(cls, *, keys: U64, refs: I64, slots_per_entry: int = SLOTS_PER_ENTRY) -> HashTable:
        """Sort ``keys`` with their ``refs`` and lay the filter over them.

        A short-lived table (the hits of one batch) can afford more slots per entry, and so
        fewer false candidates, than the index itself.
        """
        order = np.argsort(keys, kind="stable")
        keys, refs = keys[order], refs[order]
        bits = max(10, int(len(keys) * slots_per_entry).bit_length())
        shift = np.uint64(64 - bits)
        slots = np.zeros(1 << bits, dtype=np.bool_)
        slots[(keys >> shift).astype(np.intp)] = True
        return cls(keys=keys, refs=refs, filter=slots, shift=shift)

    def lookup(self, hashes: U64) -> tuple[I64, I64]:
        """(position in ``hashes``, ref) of every hit; a value with n indicators hits n times."""
        if not len(self.keys) or not len(hashes):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        # The shifted hashes are below 2**bits, so viewing them as int64 is exact and free.
        candidates = np.flatnonzero(self.filter[(hashes >> self.shift).view(np.int64)])
        probe = hashes[candidates]
        left = np.searchsorted(self.keys, probe, side="left")
        right = np.searchsorted(self.keys, probe, side="right")
        counts = right - left
        found = counts > 0
        candidates, left, counts = candidates[found], left[found], counts[found]
        positions = np.repeat(candidates, counts).astype(np.int64)
        starts = np.repeat(left - np.cumsum(counts) + counts, counts)
        refs = self.refs[starts + np.arange(int(counts.sum()))]
        return positions, refs

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(self.keys.nbytes + self.refs.nbytes + self.filter.nbytes)


@dataclass(frozen=True)
class IntervalTable:
    """IPv4 networks as disjoint intervals labelled with their longest covering prefix."""

    starts: npt.NDArray[np.uint32]
    labels: npt.NDArray[np.int32]  # network number, -1 where no network covers
    offsets: I64  # refs of network i are refs[offsets[i]:offsets[i + 1]]
    refs: I64

    @classmethod
    def build(cls, *, networks: npt.NDArray[np.uint32], lengths: I64, refs: I64) -> IntervalTable:
        """Flatten (network, prefix length, ref) triples; nesting decides by longest prefix."""
        key = (lengths.astype(np.uint64) << np.uint64(32)) | networks.astype(np.uint64)
        unique, inverse = np.unique(key, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse, minlength=len(unique))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        u_len = (unique >> np.uint64(32)).astype(np.int64)
        u_net = (unique & np.uint64(0xFFFFFFFF)).astype(np.int64)
        size = np.left_shift(np.int64(1), 32 - u_len)
        edges = np.unique(np.concatenate([[0], u_net, u_net + size]))
        edges = edges[edges < (1 << 32)]
        labels = np.full(len(edges), -1, dtype=np.int32)
        for length in sorted(set(u_len.tolist()), reverse=True):
            mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
            probe = (np.uint64(length) << np.uint64(32)) | (edges & mask).astype(np.uint64)
            at = np.minimum(np.searchsorted(unique, probe), len(unique) - 1)
            hit = (unique[at] == probe) & (labels < 0)
            labels[hit] = at[hit]
        return cls(
            starts=edges.astype(np.uint32),
            labels=labels,
            offsets=offsets,
            refs=refs[order],
        )

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(self.starts.nbytes + self.labels.nbytes + self.offsets.nbytes + self.refs.nbytes)


@dataclass(frozen=True)
class Memory:
    """What the index holds: its own bytes, and the UTF-8 bytes of the values it was built from."""

    index_bytes: int
    raw_value_bytes: int
    entries: int


def parse_ipv4(values: pl.Series) -> tuple[I64, npt.NDArray[np.uint32]]:
    """(positions, addresses) of the values that are canonical dotted quads; others dropped.

    Canonical only (no leading zeros, no spaces, no signs), so ``010.0.0.1`` never silently
    becomes ``10.0.0.1``. The bytes are read straight from the Arrow buffer into a matrix of
    15 columns (the longest quad) and parsed one column at a time: 15 vectorised steps for any
    number of values, instead of splitting strings into new strings.
    """
    array = values.cast(pl.String).to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = array.cast(pa.large_string())
    if len(array) == 0:
        return np.empty(0, np.int64), np.empty(0, np.uint32)
    offsets = np.frombuffer(array.buffers()[1], np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    data_buffer = array.buffers()[2]
    data = (
        np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    )
    lengths = np.diff(offsets)
    at = np.flatnonzero((lengths >= 7) & (lengths <= WIDTH))
    if not len(at) or not len(data):
        return np.empty(0, np.int64), np.empty(0, np.uint32)
    column = np.arange(WIDTH)[:, None]  # one row per character position: contiguous steps
    inside = column < lengths[at][None, :]
    where = np.minimum(offsets[at][None, :] + column, len(data) - 1)
    matrix = np.where(inside, data[where], 0).astype(np.uint8)
    count = len(at)
    ok = np.ones(count, np.bool_)
    octet = np.zeros(count, np.uint32)
    digits = np.zeros(count, np.uint8)
    dots = np.zeros(count, np.uint8)
    number = np.zeros(count, np.uint32)  # wraps only for rows already refused
    for j in range(WIDTH):
        byte = matrix[j]
        here = inside[j]
        value = byte - np.uint8(48)  # wraps above 9 for anything but a digit
        digit = (value <= 9) & here
        dot = (byte == 46) & here
        ok &= digit | dot | ~here
        ok &= ~(digit & (digits > 0) & (octet == 0))  # a leading zero
        ok &= ~(dot & (digits == 0))
        octet = np.where(digit, octet * 10 + value, octet)
        digits += digit
        ok &= octet <= 255
        number = np.where(dot, number * 256 + octet, number)
        dots += dot
        octet[dot] = 0
        digits[dot] = 0
    ok &= (dots == 3) & (digits > 0)
    number = number * 256 + octet
    return at[ok].astype(np.int64), number[ok].astype(np.uint32)


def _nbytes(item: object) -> int:
    """Bytes of the arrays in ``item``, tuples of them included."""
    if isinstance(item, np.ndarray):
        return int(item.nbytes)
    if isinstance(item, tuple):
        return sum(_nbytes(part) for part in item)
    return 0


@dataclass(frozen=True)
class Compiled:
    """Domains, IPv4 addresses and networks as the compiled kernels read them."""

    names: Table
    tails: Bitmap
    tail_sizes: I64  # the byte lengths under eight that some indicator domain has
    addresses: Table
    networks: Intervals
    heads: Bitmap
    blocks: Blocks

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return _nbytes(
            (self.names, self.tails, self.addresses, self.networks, self.heads, self.blocks)
        )

    @classmethod
    def build(
        cls,
        *,
        names: pl.DataFrame,
        addresses: pl.DataFrame,
        cidr4: IntervalTable,
        networks: npt.NDArray[np.uint32],
        lengths: I64,
    ) -> Compiled:
        """Lay out domains (``value``, ``ref``), addresses (``number``, ``ref``) and the
        flattened networks with the (network, length) pairs they came from."""
        # numba is imported only where matching happens
        from watchkeeper.detect import address_kernel, kernel_tables, kernels

        text = kernels.views(names["value"])
        sizes = names["value"].str.len_bytes().to_numpy()
        numbers = addresses["number"].to_numpy().astype(np.uint32)
        starts = np.arange((1 << 16) + 1, dtype=np.int64) << 16
        return cls(
            names=kernel_tables.table(
                keys=kernels.hash_strings(text), refs=names["ref"].to_numpy().astype(np.int64)
            ),
            tails=kernel_tables.bitmap(kernels.tail_keys(text)),
            tail_sizes=np.unique(sizes[sizes < 8]).astype(np.int64),
            addresses=kernel_tables.table(
                keys=address_kernel.address_keys(numbers),
                refs=addresses["ref"].to_numpy().astype(np.int64),
            ),
            networks=kernels.Intervals(
                starts=cidr4.starts,
                labels=cidr4.labels,
                offsets=cidr4.offsets,
                refs=cidr4.refs,
                by16=np.searchsorted(cidr4.starts, starts, side="left").astype(np.int64),
            ),
            heads=kernel_tables.heads(addresses=numbers, networks=networks, lengths=lengths),
            blocks=kernel_tables.blocks(addresses=numbers, networks=networks, lengths=lengths),
        )


@dataclass
class IndicatorIndex:
    """Compiled domains and IPv4, exact tables of the other kinds, IPv6 networks; see the
    module docstring."""

    exact: dict[str, HashTable]  # kinds other than domain and ipv4
    compiled: Compiled
    cidr6: dict[int, dict[int, list[int]]] = field(default_factory=dict)  # length -> net -> refs
    raw_value_bytes: int = 0
    entries: int = 0
    domain_labels: frozenset[int] = frozenset()  # label counts of the indicator domains

    @classmethod
    def from_rows(cls, *, kinds: Sequence[str], values: Sequence[str], refs: Any) -> IndicatorIndex:
        """Compile normalised (kind, value) pairs with their integer refs.

        Kinds outside :data:`KINDS` (``asn``, ``mac``) are left out: telemetry is not matched on
        them here.
        """
        frame = pl.DataFrame(
            {
                "kind": pl.Series(list(kinds), dtype=pl.String),
                "value": pl.Series(list(values), dtype=pl.String),
                "ref": pl.Series(np.asarray(refs, dtype=np.int64)),
            }
        ).filter(pl.col("kind").is_in(KINDS))
        exact: dict[str, HashTable] = {}
        for kind in EXACT_KINDS:
            if kind in COMPILED_KINDS:
                continue
            part = frame.filter(pl.col("kind") == kind)
            exact[kind] = HashTable.build(
                keys=string_hashes(part["value"]), refs=part["ref"].to_numpy().astype(np.int64)
            )
        cidr4 = frame.filter(pl.col("kind") == "cidr4")
        split = cidr4.select(
            pl.col("value").str.split_exact("/", 1).struct.field("field_0").alias("net"),
            pl.col("value").str.split_exact("/", 1).struct.field("field_1").alias("len"),
            "ref",
        )
        at, numbers = parse_ipv4(split["net"])
        lengths = split["len"].cast(pl.Int64, strict=False).to_numpy()[at]
        ok = (lengths >= 0) & (lengths <= 32)
        networks, network_lengths = numbers[ok], lengths[ok].astype(np.int64)
        intervals = IntervalTable.build(
            networks=networks,
            lengths=network_lengths,
            refs=split["ref"].to_numpy().astype(np.int64)[at][ok],
        )
        ipv4 = frame.filter(pl.col("kind") == "ipv4")
        at, numbers = parse_ipv4(ipv4["value"])
        compiled = Compiled.build(
            names=frame.filter(pl.col("kind") == "domain"),
            addresses=pl.DataFrame(
                {"number": numbers.astype(np.int64), "ref": ipv4["ref"].to_numpy()[at]}
            ),
            cidr4=intervals,
            networks=networks,
            lengths=network_lengths,
        )
        cidr6: dict[int, dict[int, list[int]]] = {}
        for value, ref in frame.filter(pl.col("kind") == "cidr6").select("value", "ref").rows():
            network = ipaddress.IPv6Network(value, strict=False)
            by_length = cidr6.setdefault(network.prefixlen, {})
            by_length.setdefault(int(network.network_address), []).append(int(ref))
        return cls(
            exact=exact,
            compiled=compiled,
            cidr6=cidr6,
            raw_value_bytes=int(frame["value"].str.len_bytes().sum() or 0),
            domain_labels=frozenset(
                count + 1
                for count in frame.filter(pl.col("kind") == "domain")["value"]
                .str.count_matches(".", literal=True)
                .unique()
                .to_list()
            ),
            entries=frame.height,
        )

    @classmethod
    def compile(
        cls,
        *,
        session: Session,
        policy: ScoringPolicy | None = None,
        now: datetime | None = None,
    ) -> IndicatorIndex:
        """The index of what the store says to match now (live indicators, no warninglisted
        values); each ref is the ``seq`` of the indicator version."""
        kinds: list[str] = []
        values: list[str] = []
        refs: list[int] = []
        for row in active_values(session, policy=policy, now=now):
            kinds.append(row.kind)
            values.append(row.value)
            refs.append(row.seq)
        return cls.from_rows(kinds=kinds, values=values, refs=refs)

    def memory(self) -> Memory:
        """The index's bytes (arrays, plus an estimate for the IPv6 dictionaries) and the raw
        value bytes, so the ratio between them can be reported."""
        v6 = sum(
            100 + 120 * len(nets) + 8 * sum(len(r) for r in nets.values())
            for nets in self.cidr6.values()
        )
        size = sum(table.nbytes for table in self.exact.values()) + self.compiled.nbytes + v6
        return Memory(index_bytes=size, raw_value_bytes=self.raw_value_bytes, entries=self.entries)
