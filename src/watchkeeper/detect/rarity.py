"""First-seen rare domains: a registrable domain an organisation has never contacted before and
that almost nobody else on the node has either.

Phishing kits, fresh command servers and typo-squats are new and narrow: one organisation,
a handful of queries. Popular services are new to somebody every day but are seen by many
organisations, so rarity is judged across the whole node, not per organisation. The memory of
what each organisation has seen is the known table (``KNOWN_SCHEMA``, one row per
organisation and domain, stored by the caller); these functions are pure: frame in, frames out.

An organisation whose first record is younger than ``learning_days`` raises nothing: on its
first day everything is new. The node-wide counts use the known table's rows last seen within
``baseline_days``; their ``count`` is cumulative since ``first_seen`` (the table keeps no
per-day counts), which only makes a long-lived domain look more common, never rarer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from watchkeeper.detect.domains import with_registrable
from watchkeeper.errors import InvalidInput

TIME = "@timestamp"
ORGANIZATION = "organization.name"
HOST = "host.name"
SOURCE = "log.file.path"
LINE = "log.file.line"
DOMAIN_FIELDS = ("dns.question.name", "url.domain", "tls.server.name")
DEFAULT_ORGANIZATION = "default"
KNOWN_SCHEMA: dict[str, pl.DataType] = {
    "organization": pl.String(),
    "domain": pl.String(),
    "first_seen": pl.Datetime("us", "UTC"),
    "last_seen": pl.Datetime("us", "UTC"),
    "count": pl.Int64(),
}
KEYS = ("organization", "domain")


@dataclass(frozen=True)
class FirstSeen:
    """The known table after the batch, and the rare first-seen domains it revealed."""

    known: pl.DataFrame
    new: pl.DataFrame


def empty_known() -> pl.DataFrame:
    """A known table with no rows (a node's first run)."""
    return pl.DataFrame(schema=KNOWN_SCHEMA)


def _utc(dtype: pl.DataType) -> pl.Expr:
    """Timestamps in UTC; a reader's naive timestamps are taken as UTC already."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return pl.col(TIME).dt.replace_time_zone("UTC")
    return pl.col(TIME).dt.convert_time_zone("UTC")


def domain_sightings(*, frame: pl.DataFrame) -> pl.DataFrame:
    """What each organisation's events show, one row per (organisation, registrable domain):
    ``first_seen``, ``last_seen``, ``count`` and ``host`` (the first asker, when known).

    The domain comes from the first of ``DOMAIN_FIELDS`` an event has; IP literals and
    single-label names (``wpad``, ``localhost``) are left out. Events are grouped by the raw
    name first, so the string work of reducing names runs once per distinct name.
    """
    fields = [name for name in DOMAIN_FIELDS if name in frame.columns]
    if not fields:
        raise InvalidInput(
            f"first-seen analytics need one of the columns {', '.join(DOMAIN_FIELDS)}",
            field=DOMAIN_FIELDS[0],
        )
    if TIME not in frame.columns or not isinstance(frame.schema[TIME], pl.Datetime):
        raise InvalidInput(f"first-seen analytics need a datetime column {TIME}", field=TIME)
    organization = (
        pl.col(ORGANIZATION).cast(pl.String).fill_null(DEFAULT_ORGANIZATION)
        if ORGANIZATION in frame.columns
        else pl.lit(DEFAULT_ORGANIZATION)
    )
    host = pl.col(HOST).cast(pl.String) if HOST in frame.columns else pl.lit(None, pl.String)
    source = pl.col(SOURCE) if SOURCE in frame.columns else pl.lit(None, pl.String)
    line = pl.col(LINE).cast(pl.Int64) if LINE in frame.columns else pl.lit(None, pl.Int64)
    names = (
        frame.lazy()
        .select(
            organization.alias("organization"),
            pl.coalesce([pl.col(name).cast(pl.String) for name in fields]).alias("name"),
            _utc(frame.schema[TIME]).dt.cast_time_unit("us").alias(TIME),
            host.alias("host"),
            source.alias("source"),
            line.alias("line"),
        )
        .drop_nulls(["name", TIME])
        .group_by("organization", "name")
        .agg(
            pl.col(TIME).min().alias("first_seen"),
            pl.col(TIME).max().alias("last_seen"),
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("host").sort_by(TIME).drop_nulls().first(),
            pl.col("source", "line").sort_by(TIME).first(),
        )
    )
    return (
        with_registrable(names, column="name", domain="domain")
        .filter(pl.col("domain").is_not_null() & pl.col("domain").str.contains(".", literal=True))
        .group_by(KEYS)
        .agg(
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            pl.col("count").sum(),
            pl.col("host").sort_by("first_seen").drop_nulls().first(),
            pl.col("source", "line").sort_by("first_seen").first(),
        )
        .collect()
    )


def merge_sightings(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Several batches' ``domain_sightings`` as one (what a run shows in all)."""
    if len(parts) == 1:
        return parts[0]
    return (
        pl.concat(parts)
        .group_by(KEYS)
        .agg(
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            pl.col("count").sum(),
            pl.col("host").sort_by("first_seen").drop_nulls().first(),
            pl.col("source", "line").sort_by("first_seen").first(),
        )
    )


def _checked_known(known: pl.DataFrame) -> pl.DataFrame:
    missing = [name for name in KNOWN_SCHEMA if name not in known.columns]
    if missing:
        raise InvalidInput(
            f"the known-domains table lacks the column(s) {', '.join(missing)}",
            field=missing[0],
        )
    try:
        return known.select(
            [pl.col(name).cast(dtype, strict=True) for name, dtype in KNOWN_SCHEMA.items()]
        )
    except pl.exceptions.PolarsError as error:
        raise InvalidInput(
            f"the known-domains table has a column of the wrong type: {error}", field="known"
        ) from error


def update_known(*, known: pl.DataFrame, sightings: pl.DataFrame) -> pl.DataFrame:
    """Upsert ``domain_sightings`` into the known table: earliest first, latest last, counts
    added. Rows are sorted by organisation and domain."""
    batch = sightings.select(list(KNOWN_SCHEMA))
    return (
        pl.concat([_checked_known(known), batch])
        .group_by(KEYS)
        .agg(
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            pl.col("count").sum(),
        )
        .sort(KEYS)
        .select(list(KNOWN_SCHEMA))
    )


def first_seen(
    *,
    frame: pl.DataFrame | None = None,
    sightings: pl.DataFrame | None = None,
    known: pl.DataFrame,
    now: datetime | None = None,
    learning_days: float = 14,
    max_organizations: int = 1,
    max_count: int = 20,
    baseline_days: float = 30,
) -> FirstSeen:
    """The known table updated with ``frame``'s DNS/HTTP/TLS events, and the domains first seen
    by an organisation in this batch that at most ``max_organizations`` organisations and at
    most ``max_count`` queries on the whole node show within ``baseline_days`` before ``now``
    (default: the batch's latest event). Organisations younger than ``learning_days`` (their
    first record, this batch included) raise nothing. Give the events as ``frame``, or what
    :func:`domain_sightings` made of them as ``sightings`` (a long run merges its batches').

    ``new`` columns: ``organization``, ``domain``, ``first_seen``, ``last_seen``, ``count``
    (this organisation, this batch), ``host`` (first asker, when known), ``organizations`` and
    ``node_count`` (node-wide, baseline window), ``total_organizations`` and ``explanation``.
    """
    if max_organizations < 1 or max_count < 1:
        raise InvalidInput(
            "max_organizations and max_count must be at least 1", field="max_organizations"
        )
    if learning_days < 0 or baseline_days <= 0:
        raise InvalidInput("learning_days and baseline_days must be positive", field="days")
    before = _checked_known(known)
    if sightings is not None:
        batch = sightings
    elif frame is not None:
        batch = domain_sightings(frame=frame)
    else:
        raise InvalidInput("give the events or their domain sightings", field="frame")
    updated = update_known(known=before, sightings=batch)
    latest = batch["last_seen"].max()
    moment = now if now is not None else latest
    if moment is None:
        return FirstSeen(known=updated, new=_describe(batch.clear(), updated.clear()))
    horizon = pl.lit(moment, pl.Datetime("us", "UTC"))
    fresh = batch.join(before.select(KEYS), on=KEYS, how="anti")
    grown = (
        updated.group_by("organization")
        .agg(pl.col("first_seen").min().alias("since"))
        .filter(pl.col("since") <= horizon - timedelta(days=learning_days))
    )
    node = (
        updated.filter(pl.col("last_seen") > horizon - timedelta(days=baseline_days))
        .group_by("domain")
        .agg(
            pl.col("organization").n_unique().cast(pl.Int64).alias("organizations"),
            pl.col("count").sum().alias("node_count"),
        )
    )
    rare = (
        fresh.join(grown.select("organization"), on="organization", how="semi")
        .join(node, on="domain", how="left")
        .with_columns(pl.col("organizations").fill_null(1), pl.col("node_count").fill_null(0))
        .filter(
            (pl.col("organizations") <= max_organizations) & (pl.col("node_count") <= max_count)
        )
    )
    return FirstSeen(known=updated, new=_describe(rare, updated))


def _describe(rare: pl.DataFrame, updated: pl.DataFrame) -> pl.DataFrame:
    total = updated["organization"].n_unique()
    if "organizations" not in rare.columns:
        rare = rare.with_columns(
            pl.lit(0, pl.Int64).alias("organizations"), pl.lit(0, pl.Int64).alias("node_count")
        )
    return (
        rare.with_columns(pl.lit(total, pl.Int64).alias("total_organizations"))
        .with_columns(
            pl.format(
                "first seen for {} at {}{}; seen by {} of {} organisations; {} queries{}",
                pl.col("organization"),
                pl.col("first_seen").dt.to_string("%Y-%m-%dT%H:%M:%SZ"),
                pl.when(pl.col("host").is_not_null())
                .then(pl.format(" from host {}", pl.col("host")))
                .otherwise(pl.lit("")),
                pl.col("organizations"),
                pl.col("total_organizations"),
                pl.col("count"),
                pl.when(pl.col("node_count") > pl.col("count"))
                .then(pl.format(" ({} on the node)", pl.col("node_count")))
                .otherwise(pl.lit("")),
            ).alias("explanation")
        )
        .sort(["organization", "first_seen", "domain"])
        .select(
            "organization",
            "domain",
            "first_seen",
            "last_seen",
            "count",
            "host",
            "source",
            "line",
            "organizations",
            "node_count",
            "total_organizations",
            "explanation",
        )
    )
