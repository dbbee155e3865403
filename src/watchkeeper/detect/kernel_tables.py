"""The layout of the index for the compiled kernels: sorted key tables, Bloom filters and the
address filters, built with NumPy from keys that :mod:`watchkeeper.detect.kernels` computes
as its kernels do (so both sides agree)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from watchkeeper.detect.address_kernel import block_keys, head_keys
from watchkeeper.detect.kernels import (
    B63,
    I64,
    ONE,
    S32,
    S38,
    U32,
    U64,
    Bitmap,
    Blocks,
    Table,
    views,
)

FILTER_BITS_PER_KEY = 8
KEYS_PER_BUCKET = 2
HEAD_BITS_PER_KEY = 64
BLOCK_BITS_PER_KEY = 8


def bitmap(keys: U64, *, bits_per_key: int = FILTER_BITS_PER_KEY) -> Bitmap:
    """The bitmap of ``keys`` (see :class:`Bitmap`)."""
    words_log = max(1, (len(keys) * bits_per_key >> 6).bit_length())
    shift = np.uint64(64 - words_log)
    bits = np.zeros(1 << words_log, np.uint64)
    wanted = (ONE << ((keys >> S32) & B63)) | (ONE << ((keys >> S38) & B63))
    np.bitwise_or.at(bits, (keys >> shift).astype(np.intp), wanted)
    return Bitmap(bits, shift)


def table(*, keys: U64, refs: I64) -> Table:
    """Sort ``keys`` with their ``refs`` (one key may have several), behind their bitmap and
    a directory of about two keys per bucket."""
    order = np.lexsort((refs, keys))  # a key's refs ascending, as matches are reported
    keys, refs = keys[order], refs[order].astype(np.int64)
    dir_log = max(1, (len(keys) // KEYS_PER_BUCKET).bit_length())
    dir_shift = np.uint64(64 - dir_log)
    buckets = np.arange((1 << dir_log) + 1, dtype=np.uint64)
    directory = np.searchsorted(keys >> dir_shift, buckets, side="left").astype(np.int64)
    return Table(bitmap(keys), directory, dir_shift, keys, refs)


def _met16(networks: U32, lengths: I64) -> npt.NDArray[np.bool_]:
    """Which of the 65,536 /16s the networks meet."""
    size = np.left_shift(np.int64(1), 32 - lengths)
    first = networks.astype(np.int64) >> 16
    last = (networks.astype(np.int64) + size - 1) >> 16
    marks = np.zeros((1 << 16) + 1, np.int64)  # +1 where a network's span starts, -1 after
    np.add.at(marks, first, 1)
    np.add.at(marks, last + 1, -1)
    met: npt.NDArray[np.bool_] = np.cumsum(marks)[: 1 << 16] > 0
    return met


def heads(*, addresses: U32, networks: U32, lengths: I64) -> Bitmap:
    """The bitmap of the /16s that an address or a network touches, keyed by their text."""
    touched = _met16(networks, lengths)
    touched[addresses >> 16] = True
    wanted = np.flatnonzero(touched)
    texts = pl.DataFrame({"n": wanted}).select(
        pl.format("{}.{}.", pl.col("n") // 256, pl.col("n") % 256)
    )
    # At most 65,536 keys: a wider bitmap (512 KiB at most) saves parsing false candidates.
    return bitmap(head_keys(views(texts.to_series())), bits_per_key=HEAD_BITS_PER_KEY)


def blocks(*, addresses: U32, networks: U32, lengths: I64) -> Blocks:
    """The /16s of the networks shorter than /24, and the /24s of the rest (see
    :class:`Blocks`)."""
    short = lengths < 24
    met = _met16(networks[short], lengths[short])
    bit = np.arange(64, dtype=np.uint64)
    short16 = (met.reshape(-1, 64).astype(np.uint64) << bit).sum(axis=1, dtype=np.uint64)
    by24 = np.unique(np.concatenate([addresses >> 8, networks[~short] >> 8]).astype(np.uint64))
    return Blocks(short16, bitmap(block_keys(by24), bits_per_key=BLOCK_BITS_PER_KEY))
