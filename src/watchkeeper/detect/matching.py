"""Matching telemetry columns against the indicator index, vectorised.

DNS names and IP addresses, nearly all of telemetry's volume, are matched by the compiled
kernels of :mod:`watchkeeper.detect.kernels`, one pass over the column's buffers. What they
leave (a name with non-ASCII bytes, an IPv6 address) goes the general way below, over the
distinct values of just those rows.

A column of other values (URLs, e-mail addresses or file hashes) is matched in three steps,
none with Python code per event:

1. every value is hashed (one native pass) and the **distinct** values are picked out: telemetry
   repeats itself (the same resolvers, CDNs and update servers all day), so the per-value work
   below runs once per distinct value, not once per event;
2. the distinct values are matched: exact tables by hash; each parent of a domain by hashing
   successive suffixes, one vectorised pass per label level; IPv4 addresses parsed in one
   vectorised pass and searched in the longest-prefix intervals. IPv6, URL and e-mail values
   need a real parser to be put in canonical form, and go through ``normalise`` per distinct
   value (rare in DNS and flow logs; the price is stated here rather than hidden);
3. the hits are spread back to every event carrying a matched value, through a small hash table
   of the matched hashes.

The result names event rows, the kind of indicator value that matched and the indicator ref;
an event matching several indicators (an address and its network, a name and its parent)
appears once per indicator.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from watchkeeper.core.observables import normalise
from watchkeeper.detect.index import (
    I64,
    KINDS,
    HashTable,
    IndicatorIndex,
    string_hashes,
)
from watchkeeper.errors import InvalidInput

if TYPE_CHECKING:
    from watchkeeper.detect.kernels import Output

FIELDS = ("ip", "domain", "url", "email", "hash")
_CODE = {kind: code for code, kind in enumerate(KINDS)}
_HASH_KINDS = ("md5", "sha1", "sha256", "sha512")
BACK_SLOTS = 64  # filter slots per matched value when spreading hits back to the events

# address_kernel.EXACT_IPV4 and CIDR4, kernels.DOMAIN, in that order, as codes into KINDS
_KERNEL_KINDS = np.asarray([_CODE["ipv4"], _CODE["cidr4"], _CODE["domain"]], np.uint8)
_Hits = tuple[I64, np.ndarray, I64]  # positions in the distinct values, kind codes, refs


@dataclass(frozen=True)
class Matches:
    """Hits as parallel arrays, ordered by row then kind then ref."""

    rows: I64
    kinds: np.ndarray  # codes into watchkeeper.detect.index.KINDS
    refs: I64

    def __len__(self) -> int:
        return len(self.rows)

    def to_frame(self) -> pl.DataFrame:
        """The hits as a frame of ``row``, ``kind`` (name) and ``ref``."""
        names = np.asarray(KINDS, dtype=object)[self.kinds.astype(np.intp)]
        return pl.DataFrame(
            {"row": self.rows, "kind": pl.Series(names.tolist(), dtype=pl.String), "ref": self.refs}
        )


def _empty() -> _Hits:
    return np.empty(0, np.int64), np.empty(0, np.uint8), np.empty(0, np.int64)


def _tagged(kind: str, positions: I64, refs: I64) -> _Hits:
    return positions, np.full(len(positions), _CODE[kind], np.uint8), refs


def _join(parts: list[_Hits]) -> _Hits:
    parts = [part for part in parts if len(part[0])]
    if not parts:
        return _empty()
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def _name_hits(index: IndicatorIndex, names: pl.Series) -> tuple[I64, I64]:
    """(position, ref) of the names equal to an indicator domain, hashed as the kernel does."""
    from watchkeeper.detect import kernels  # numba is imported only where matching happens

    keys = kernels.hash_strings(kernels.views(names))
    out = _filled(lambda out: kernels.find(keys, index.compiled.names, out), len(keys))
    return out.rows, out.refs


def _domains(index: IndicatorIndex, values: pl.Series) -> _Hits:
    """The general path for names: each parent cut off with Polars, one label level a pass."""
    wanted = np.asarray(sorted(index.domain_labels), dtype=np.int64)
    if not len(wanted):
        return _empty()
    names = values.str.to_lowercase().str.strip_suffix(".")
    parts = [_tagged("domain", *_name_hits(index, names))]
    # A parent can only equal an indicator with as many labels, so a name is cut down only
    # while a parent of a wanted size remains; the bare top-level label is never a parent
    # (as in core.observables.parent_domains).
    smallest = max(2, int(wanted[0]))
    labels = names.str.count_matches(".", literal=True).fill_null(0).to_numpy() + 1
    keep = labels > smallest
    names, labels = names.filter(pl.Series(keep)), labels[keep]
    at = np.flatnonzero(keep).astype(np.int64)
    while len(names):
        names = pl.DataFrame({"n": names}).select(
            pl.col("n").str.slice(pl.col("n").str.find(".", literal=True) + 1)
        )["n"]
        labels = labels - 1
        ask = np.flatnonzero(np.isin(labels, wanted))
        positions, refs = _name_hits(index, names.gather(ask))
        parts.append(_tagged("domain", at[ask[positions]], refs))
        keep = labels > smallest
        names, labels, at = names.filter(pl.Series(keep)), labels[keep], at[keep]
    return _join(parts)


def _filled(run: Callable[[Output], int], rows: int) -> Output:
    """Run a kernel with room for its hits, again with more room if they did not fit."""
    from watchkeeper.detect import kernels

    out = kernels.empty_output(max(1024, rows // 32), rows)
    count = run(out)
    if count > len(out.rows):
        out = kernels.empty_output(count, rows)
        run(out)
    return kernels.Output(out.rows[:count], out.what[:count], out.refs[:count], out.fallback)


def _compiled(index: IndicatorIndex, values: pl.Series, field: str) -> Matches:
    """Names or addresses through their kernel, what it leaves through the general path."""
    from watchkeeper.detect import address_kernel, kernels

    text = kernels.views(values)
    c = index.compiled
    if field == "domain":
        wanted = np.zeros(max(index.domain_labels, default=0) + 2, np.bool_)
        wanted[list(index.domain_labels)] = True
        out = _filled(
            lambda out: kernels.match_names(
                text, c.names, c.tails, c.tail_sizes, wanted, len(wanted) - 2, out
            ),
            len(values),
        )
    else:
        out = _filled(
            lambda out: address_kernel.match_addresses(
                text, c.addresses, c.networks, c.heads, c.blocks, out
            ),
            len(values),
        )
    rows, kinds, refs = out.rows, _KERNEL_KINDS[out.what], out.refs
    left = np.flatnonzero(out.fallback)
    if len(left):
        keep = out.fallback[rows] == 0  # a row left to the general path is matched there only
        general = _general(index, values.gather(left), field)
        rows = np.concatenate([rows[keep], left[general.rows]])
        kinds = np.concatenate([kinds[keep], general.kinds])
        refs = np.concatenate([refs[keep], general.refs])
    return _ordered(rows, kinds, refs)


def _ordered(rows: I64, kinds: np.ndarray, refs: I64) -> Matches:
    """The hits by row, kind and ref. The kernels write them nearly in that order, which a
    stable sort on row and kind takes in one merge (a full three-key sort of 200,000 hits
    costs 30 ms); refs out of order within a row and kind fall back to that sort."""
    key = rows * len(KINDS) + kinds
    order = np.argsort(key, kind="stable")
    key, ordered = key[order], refs[order]
    if ((key[1:] == key[:-1]) & (ordered[1:] < ordered[:-1])).any():
        order = np.lexsort((refs, kinds, rows))
    return Matches(rows=rows[order], kinds=kinds[order], refs=refs[order])


def _canonical(values: pl.Series, kind: str) -> tuple[I64, pl.Series]:
    """Positions and canonical text of the values that are valid ``kind`` (per distinct value)."""
    positions: list[int] = []
    texts: list[str] = []
    for position, value in enumerate(values.to_list()):
        if value is None:
            continue
        try:
            texts.append(normalise(kind, value).value)
        except InvalidInput:
            continue
        positions.append(position)
    return np.asarray(positions, dtype=np.int64), pl.Series(texts, dtype=pl.String)


def _addresses(index: IndicatorIndex, values: pl.Series) -> _Hits:
    """The general path for addresses: IPv6 only (the kernel decides every dotted quad)."""
    colon = np.flatnonzero(values.str.contains(":", literal=True).fill_null(False).to_numpy())
    if not len(colon):
        return _empty()
    at6, texts = _canonical(values.gather(colon), "ipv6")
    at6 = colon[at6]
    positions, refs = index.exact["ipv6"].lookup(string_hashes(texts))
    parts = [_tagged("ipv6", at6[positions], refs)]
    if index.cidr6:
        parts.append(_networks6(index, at6, texts))
    return _join(parts)


def _networks6(index: IndicatorIndex, at: I64, texts: pl.Series) -> _Hits:
    """Longest-prefix IPv6 matching with Python ints, over the distinct IPv6 values only."""
    rows: list[int] = []
    refs: list[int] = []
    lengths = sorted(index.cidr6, reverse=True)
    for position, text in zip(at.tolist(), texts.to_list(), strict=True):
        number = int(ipaddress.IPv6Address(text))
        for length in lengths:
            network = number & ((1 << 128) - (1 << (128 - length)))
            found = index.cidr6[length].get(network)
            if found:
                rows += [position] * len(found)
                refs += found
                break
    return _tagged("cidr6", np.asarray(rows, np.int64), np.asarray(refs, np.int64))


def _normalised(index: IndicatorIndex, values: pl.Series, kind: str) -> _Hits:
    at, texts = _canonical(values, kind)
    positions, refs = index.exact[kind].lookup(string_hashes(texts))
    return _tagged(kind, at[positions], refs)


def _file_hashes(index: IndicatorIndex, values: pl.Series) -> _Hits:
    hashes = string_hashes(values.str.to_lowercase())
    return _join([_tagged(kind, *index.exact[kind].lookup(hashes)) for kind in _HASH_KINDS])


def _distinct_hits(index: IndicatorIndex, values: pl.Series, field: str) -> _Hits:
    if field == "domain":
        return _domains(index, values)
    if field == "ip":
        return _addresses(index, values)
    if field == "hash":
        return _file_hashes(index, values)
    return _normalised(index, values, field)


def match_column(*, index: IndicatorIndex, values: pl.Series, field: str) -> Matches:
    """Hits of one column of events; ``field`` says what it holds (one of :data:`FIELDS`)."""
    if field not in FIELDS:
        raise InvalidInput(f"unknown field {field!r}; one of {', '.join(FIELDS)}", field="field")
    values = values.cast(pl.String)
    if field in ("domain", "ip"):
        return _compiled(index, values, field)
    return _general(index, values, field)


def _general(index: IndicatorIndex, values: pl.Series, field: str) -> Matches:
    """Hits by the general path: the distinct values, then spread back to their rows."""
    hashes = string_hashes(values)
    present = ~values.is_null().to_numpy()
    # One representative row per distinct value (by hash); a null row represents nothing.
    distinct = pl.Series(hashes).arg_unique().to_numpy().astype(np.int64)
    distinct = distinct[present[distinct]]
    positions, kinds, refs = _distinct_hits(index, values.gather(distinct), field)
    if not len(positions):
        return Matches(rows=np.empty(0, np.int64), kinds=np.empty(0, np.uint8), refs=refs)
    back = HashTable.build(
        keys=hashes[distinct[positions]],
        refs=np.arange(len(positions), dtype=np.int64),
        slots_per_entry=BACK_SLOTS,
    )
    rows, hit = back.lookup(hashes)
    keep = present[rows]
    rows, hit = rows[keep], hit[keep]
    order = np.lexsort((refs[hit], kinds[hit], rows))
    return Matches(rows=rows[order], kinds=kinds[hit][order], refs=refs[hit][order])


def match_frame(
    *, index: IndicatorIndex, frame: pl.DataFrame, fields: Mapping[str, str]
) -> pl.DataFrame:
    """Hits of several columns: ``fields`` maps a column name to what it holds.

    One row per hit: ``row`` (of ``frame``), ``column``, ``kind`` and ``ref``.
    """
    parts = [
        match_column(index=index, values=frame[column], field=field)
        .to_frame()
        .with_columns(pl.lit(column).alias("column"))
        for column, field in fields.items()
    ]
    schema = {"row": pl.Int64, "kind": pl.String, "ref": pl.Int64, "column": pl.String}
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts).select("row", "column", "kind", "ref").sort("row", "column", "kind")
