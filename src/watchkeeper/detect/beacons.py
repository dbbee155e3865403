"""Beaconing: connections from one source to one destination at a steady rhythm.

Implants call home on a timer (every 60 s, plus a little random jitter to look less regular);
people do not. For each (source, destination, port) pair the gaps between successive
connections are measured, and the pair is scored on how many gaps fall on a common period:

- the period is the median gap, robust to the odd extra connection;
- a gap of about two or three periods is a missed beat (a sleeping laptop, a lost log line),
  counted as on the beat and divided by its number of periods before the jitter is measured;
- jitter is the median relative deviation of those per-beat gaps from the period;
- score = share of gaps on the beat x (1 - jitter / JITTER_SCALE) x confidence in the count
  (1 - exp(-gaps / 10)), each term in [0, 1], so 40 gaps of 60 s +- 2% score about 0.9 and
  Poisson traffic, whose gaps spread over every length, scores near 0.

Connections closer together than ``merge_s`` count as one beat (a beacon that opens two
sockets at once). Everything is a Polars group-by on rows sorted by pair and time: no Python
per pair or per connection.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from watchkeeper.errors import InvalidInput

KEYS = ("source.ip", "destination.ip", "destination.port")
TIME = "@timestamp"
JITTER_SCALE = 0.25  # relative jitter at which a rhythm no longer counts as one
MAX_BEATS = 3  # a gap of up to this many periods is read as missed beats


def _check(frame: pl.DataFrame) -> None:
    missing = [name for name in (*KEYS, TIME) if name not in frame.columns]
    if missing:
        raise InvalidInput(
            f"beacon scoring needs the column(s) {', '.join(missing)}", field=missing[0]
        )
    if not isinstance(frame.schema[TIME], pl.Datetime):
        raise InvalidInput(
            f"column {TIME} must be a datetime, got {frame.schema[TIME]}", field=TIME
        )


def _span(seconds: pl.Expr) -> pl.Expr:
    """A duration in seconds as words: ``45 s``, ``41 min``, ``3.5 h``, ``2.1 days``."""
    return (
        pl.when(seconds < 120)
        .then(pl.format("{} s", seconds.round(0).cast(pl.Int64)))
        .when(seconds < 7200)
        .then(pl.format("{} min", (seconds / 60).round(0).cast(pl.Int64)))
        .when(seconds < 172800)
        .then(pl.format("{} h", (seconds / 3600).round(1)))
        .otherwise(pl.format("{} days", (seconds / 86400).round(1)))
    )


def beacon_scores(
    *,
    frame: pl.DataFrame,
    min_connections: int = 8,
    window: timedelta | None = None,
    until: datetime | None = None,
    tolerance: float = 0.1,
    merge_s: float = 1.0,
    min_score: float = 0.0,
) -> pl.DataFrame:
    """Score every (source.ip, destination.ip, destination.port) pair with at least
    ``min_connections`` connections, best first.

    ``window`` keeps the connections of that length before ``until`` (default: the latest
    timestamp); ``tolerance`` is how far (relative) a per-beat gap may stray from the period
    and still be on the beat. Columns: the three keys, ``connections``, ``first_seen``,
    ``last_seen``, ``median_interval_s``, ``jitter`` (relative), ``on_beat`` (share of gaps),
    ``missed_beats``, ``score`` and ``explanation``.
    """
    _check(frame)
    if min_connections < 3:
        raise InvalidInput("min_connections must be at least 3", field="min_connections")
    if not 0 < tolerance < 0.5:
        raise InvalidInput("tolerance must be between 0 and 0.5", field="tolerance")
    events = frame.lazy().select(*KEYS, TIME).drop_nulls()
    if window is not None:
        end = until if until is not None else frame[TIME].max()
        if end is not None:
            events = events.filter(
                (pl.col(TIME) > pl.lit(end) - window) & (pl.col(TIME) <= pl.lit(end))
            )
    pairs = (
        events.group_by(KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("connections"),
            pl.col(TIME).min().alias("first_seen"),
            pl.col(TIME).max().alias("last_seen"),
        )
        .filter(pl.col("connections") >= min_connections)
        .with_row_index("pair")
    )
    gaps = (
        events.join(pairs.select(*KEYS, "pair"), on=KEYS, how="inner")
        .select("pair", TIME)
        .sort("pair", TIME)
        .with_columns(
            (pl.col(TIME).diff().dt.total_microseconds() / 1e6).alias("gap"),
            (pl.col("pair") == pl.col("pair").shift(1)).alias("same"),
        )
        .filter(pl.col("same") & (pl.col("gap") > merge_s))
        .with_columns(pl.col("gap").median().over("pair").alias("period"))
        .with_columns(
            (pl.col("gap") / pl.col("period"))
            .round(0)
            .clip(0, MAX_BEATS)
            .cast(pl.Int64)
            .alias("beats")
        )
        .with_columns(
            pl.when(pl.col("beats") >= 1)
            .then((pl.col("gap") / pl.col("beats") / pl.col("period") - 1).abs())
            .alias("deviation")
        )
        .group_by("pair")
        .agg(
            pl.len().alias("gaps"),
            pl.col("period").first().alias("median_interval_s"),
            pl.col("deviation").median().alias("jitter"),
            (pl.col("deviation") <= tolerance).sum().alias("on"),
            ((pl.col("beats") - 1) * (pl.col("deviation") <= tolerance)).sum().alias("missed"),
        )
    )
    scored = (
        pairs.join(gaps, on="pair", how="left")
        .with_columns(
            pl.col("gaps").fill_null(0),
            pl.col("on").fill_null(0),
            pl.col("missed").fill_null(0).cast(pl.Int64).alias("missed_beats"),
            pl.col("jitter").fill_null(1.0),
        )
        .with_columns(
            pl.when(pl.col("gaps") > 0)
            .then(pl.col("on") / pl.col("gaps"))
            .otherwise(0.0)
            .alias("on_beat"),
        )
        .with_columns(
            (
                pl.col("on_beat")
                * (1 - (pl.col("jitter") / JITTER_SCALE).clip(0, 1))
                * (1 - (-pl.col("gaps").cast(pl.Float64) / 10).exp())
            ).alias("score"),
            ((pl.col("last_seen") - pl.col("first_seen")).dt.total_microseconds() / 1e6).alias(
                "_span"
            ),
        )
        .filter(pl.col("score") >= min_score)
        .with_columns(
            pl.format(
                "{} connections every {} s ± {} s (jitter {}%) over {}; {}% of gaps on the beat{}",
                pl.col("connections"),
                pl.col("median_interval_s").round(1),
                (pl.col("jitter") * pl.col("median_interval_s")).round(1),
                (pl.col("jitter") * 100).round(1),
                _span(pl.col("_span")),
                (pl.col("on_beat") * 100).round(0).cast(pl.Int64),
                pl.when(pl.col("missed_beats") > 0)
                .then(pl.format("; {} missed beats", pl.col("missed_beats")))
                .otherwise(pl.lit("")),
            ).alias("explanation")
        )
        .sort(["score", "connections"], descending=True)
        .select(
            *KEYS,
            "connections",
            "first_seen",
            "last_seen",
            "median_interval_s",
            "jitter",
            "on_beat",
            "missed_beats",
            "score",
            "explanation",
        )
    )
    return scored.collect()
