"""Early warnings that need no indicator, as hits: machine-made domain names, beaconing hosts,
domains an organisation has never contacted before.

DGA scoring works batch by batch (on the distinct names of each batch). Beaconing and first-seen
need to see a stretch of traffic: a run keeps small columns of its connections and its
per-organisation domain sightings, and :meth:`EarlyWarning.finish` scores them at the end (a
follower calls it every alert window, so memory stays bounded). The known-domains memory is the
``detect_known_domains`` table, read and upserted in the transaction that writes the alerts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.detect.alerts import HIT_SCHEMA, TIME, empty_hits, event_context
from watchkeeper.detect.beacons import beacon_scores
from watchkeeper.detect.dga import dga_scores
from watchkeeper.detect.models import KnownDomain
from watchkeeper.detect.rarity import KNOWN_SCHEMA, domain_sightings, first_seen, merge_sightings

NAME_COLUMNS = ("dns.question.name", "tls.server.name", "url.domain")
BEACON_MIN_SCORE = 0.7
RARE_SCORE = 45
CONNECTION_COLUMNS = ("source.ip", "destination.ip", "destination.port")


def _hits(frame: pl.DataFrame, **columns: pl.Expr) -> pl.DataFrame:
    """``frame`` (with context columns) shaped as hits; ``columns`` give the rest."""
    defaults: dict[str, pl.Expr] = {
        name: pl.lit(None, dtype) for name, dtype in HIT_SCHEMA.items() if name not in frame.columns
    }
    defaults.update(columns)
    return frame.with_columns(**defaults).select(list(HIT_SCHEMA)).cast(HIT_SCHEMA)  # type: ignore[arg-type]


class EarlyWarning:
    """The analytics of one run (or of one window of a follower)."""

    def __init__(self, *, learning_days: float = 14, beacon_min_connections: int = 8) -> None:
        self.learning_days = learning_days
        self.beacon_min_connections = beacon_min_connections
        self.connections: list[pl.DataFrame] = []
        self.sightings: list[pl.DataFrame] = []

    def observe(self, frame: pl.DataFrame) -> pl.DataFrame:
        """DGA hits of this batch; keeps what beaconing and first-seen need later."""
        context = event_context(frame)
        if TIME in frame.columns and all(c in frame.columns for c in CONNECTION_COLUMNS):
            self.connections.append(
                pl.concat(
                    [frame.select(TIME, *CONNECTION_COLUMNS), context.drop(TIME, "row")],
                    how="horizontal",
                ).filter(pl.col(TIME).is_not_null() & pl.col("destination.ip").is_not_null())
            )
        names = [column for column in NAME_COLUMNS if column in frame.columns]
        if not names or TIME not in frame.columns:
            return empty_hits()
        self.sightings.append(domain_sightings(frame=frame))
        name = pl.coalesce([pl.col(column).cast(pl.String) for column in names]).alias("name")
        named = pl.concat([frame.select(name), context], how="horizontal").filter(
            pl.col("name").is_not_null()
        )
        scores = dga_scores(names=named["name"].unique()).filter(pl.col("dga"))
        if scores.is_empty():
            return empty_hits()
        flagged = named.join(scores.select("name", "score", "explanation"), on="name")
        return _hits(
            flagged,
            kind=pl.lit("dga"),
            subject=pl.lit("machine-generated domain names"),
            title=pl.lit("Machine-generated domain names (DGA)"),
            severity=pl.lit("medium"),
            score=(pl.col("score") * 100).round().cast(pl.Int64),
            explanation=pl.format("{}: {}", pl.col("name"), pl.col("explanation")),
            value=pl.col("name"),
            value_kind=pl.lit("domain"),
            field=pl.lit(names[0]),
        )

    def finish(self, session: Session, *, now: datetime) -> pl.DataFrame:
        """Beaconing and first-seen hits of what was observed; the known domains updated."""
        parts = [self._beacons(), self._rare(session, now=now)]
        self.connections, self.sightings = [], []
        return pl.concat(parts)

    def _beacons(self) -> pl.DataFrame:
        if not self.connections:
            return empty_hits()
        connections = pl.concat(self.connections, how="diagonal_relaxed")
        scored = beacon_scores(
            frame=connections,
            min_connections=self.beacon_min_connections,
            min_score=BEACON_MIN_SCORE,
        )
        if scored.is_empty():
            return empty_hits()
        flagged = connections.join(
            scored.select(*CONNECTION_COLUMNS, "score", "explanation"), on=list(CONNECTION_COLUMNS)
        )
        return _hits(
            flagged,
            kind=pl.lit("beacon"),
            subject=pl.format(
                "{} -> {}:{}",
                pl.col("source.ip"),
                pl.col("destination.ip"),
                pl.col("destination.port"),
            ),
            title=pl.format("Beaconing to {}", pl.col("destination.ip")),
            severity=pl.lit("high"),
            score=(pl.col("score") * 100).round().cast(pl.Int64),
            value=pl.col("destination.ip"),
            value_kind=pl.lit("ipv4"),
            field=pl.lit("destination.ip"),
        )

    def _rare(self, session: Session, *, now: datetime) -> pl.DataFrame:
        if not self.sightings:
            return empty_hits()
        seen = merge_sightings(self.sightings)
        known = _known(
            session, since=now - timedelta(days=30), domains=seen["domain"].unique().to_list()
        )
        result = first_seen(sightings=seen, known=known, now=now, learning_days=self.learning_days)
        _store_known(session, known=result.known, keys=seen.select("organization", "domain"))
        if result.new.is_empty():
            return empty_hits()
        rare = result.new.rename({"first_seen": TIME})
        return _hits(
            rare,
            kind=pl.lit("rare-domain"),
            subject=pl.col("domain"),
            title=pl.format("First-seen rare domain {}", pl.col("domain")),
            severity=pl.lit("medium"),
            score=pl.lit(RARE_SCORE, pl.Int64),
            value=pl.col("domain"),
            value_kind=pl.lit("domain"),
            field=pl.lit("dns.question.name"),
            host=pl.col("host").fill_null("unknown"),
        )


def _known(session: Session, *, since: datetime, domains: list[str]) -> pl.DataFrame:
    """The known domains last seen after ``since`` (the baseline rarity is judged on), and
    every row of ``domains`` (whenever last seen: an old acquaintance is not new)."""
    k = KnownDomain
    columns = (k.organization, k.domain, k.first_seen, k.last_seen, k.count)
    rows = {tuple(row) for row in session.execute(select(*columns).where(k.last_seen >= since))}
    for start in range(0, len(domains), 500):
        chunk = domains[start : start + 500]
        rows.update(
            tuple(row) for row in session.execute(select(*columns).where(k.domain.in_(chunk)))
        )
    return pl.DataFrame(sorted(rows), schema=KNOWN_SCHEMA, orient="row")


def _store_known(session: Session, *, known: pl.DataFrame, keys: pl.DataFrame) -> None:
    """Upsert the rows of ``known`` for ``keys`` (what this run saw)."""
    changed = known.join(keys, on=["organization", "domain"], how="semi")
    existing = {
        (row.organization, row.domain): row
        for start in range(0, changed.height, 500)
        for row in session.scalars(
            select(KnownDomain).where(
                KnownDomain.domain.in_(changed["domain"][start : start + 500].to_list())
            )
        )
    }
    for record in changed.iter_rows(named=True):
        row: Any = existing.get((record["organization"], record["domain"]))
        if row is None:
            session.add(KnownDomain(**record))
        else:
            row.first_seen = min(row.first_seen, record["first_seen"])
            row.last_seen = max(row.last_seen, record["last_seen"])
            row.count = int(record["count"])
