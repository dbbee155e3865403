"""Hits become alerts (aggregated per what fired x host x time window) and STIX sightings.

Every detector (indicators, Sigma rules, analytics) hands over its hits as one frame of
:data:`HIT_SCHEMA`, one row per event that fired. They are grouped in Polars; only the groups
(alerts, far fewer than events) reach Python. In one transaction per batch an alert is created
or its count and last-seen time updated, its first :data:`MAX_LINES` lines are kept with their
normalised events, indicator hits are written as sightings, and each new alert is audited and
emitted as a ``detect.alert`` event (what response playbooks and KPIs consume). A crash
between two batches loses nothing already committed and duplicates nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.detect.models import MAX_LINES, Alert, AlertLine
from watchkeeper.intel import Observation, write_sightings
from watchkeeper.security import record_change

TIME = "@timestamp"
HIT_SCHEMA: dict[str, Any] = {
    "kind": pl.String,  # indicator | sigma | dga | beacon | rare-domain
    "subject": pl.String,  # indicator id, rule id, domain, or source->destination pair
    "title": pl.String,
    "severity": pl.String,  # low | medium | high | critical
    "score": pl.Int64,  # 0-100
    "explanation": pl.String,
    "value": pl.String,
    "value_kind": pl.String,
    "field": pl.String,  # the column that matched
    "tlp": pl.String,
    "host": pl.String,
    "organization": pl.String,
    TIME: pl.Datetime("us", "UTC"),
    "source": pl.String,  # file the line came from
    "line": pl.Int64,
    "row": pl.Int64,  # row of the batch frame (for the normalised event); null: none
}
SEVERITIES = ("low", "medium", "high", "critical")
MAX_KEY = 700


@dataclass
class AlertCounts:
    """What one or more batches did to alerts and sightings."""

    new: int = 0
    updated: int = 0
    sightings: int = 0

    def add(self, other: AlertCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.sightings += other.sightings


def empty_hits() -> pl.DataFrame:
    """A hits frame with no rows."""
    return pl.DataFrame(schema=HIT_SCHEMA)


def event_context(frame: pl.DataFrame) -> pl.DataFrame:
    """Per row of a telemetry batch: host, organisation, time, source file and line."""

    def text(name: str) -> pl.Expr:
        return pl.col(name) if name in frame.columns else pl.lit(None, pl.String)

    return frame.select(
        pl.coalesce(text("host.name"), text("source.ip"), pl.lit("unknown")).alias("host"),
        pl.coalesce(text("organization.name"), pl.lit("default")).alias("organization"),
        (pl.col(TIME) if TIME in frame.columns else pl.lit(None, HIT_SCHEMA[TIME])).alias(TIME),
        pl.coalesce(text("log.file.path"), pl.lit("-")).alias("source"),
        (
            pl.col("log.file.line") if "log.file.line" in frame.columns else pl.lit(None, pl.Int64)
        ).alias("line"),
    ).with_row_index("row")


def normalised_events(frame: pl.DataFrame, rows: list[int]) -> list[dict[str, Any]]:
    """The events at ``rows`` as JSON-ready dictionaries of their non-null fields."""
    if not rows:
        return []
    picked = frame[rows]
    events = []
    for record in picked.to_dicts():
        events.append(
            {
                name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in record.items()
                if value is not None and value != ""
            }
        )
    return events


def _key(kind: str, subject: str, host: str, window: datetime) -> str:
    key = f"{kind}|{subject}|{host}|{window.isoformat()}"
    if len(key) <= MAX_KEY:
        return key
    return f"{kind}|sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _groups(hits: pl.DataFrame, *, window: timedelta, now: datetime) -> pl.DataFrame:
    minutes = max(1, int(window.total_seconds() // 60))
    return (
        hits.with_columns(pl.col(TIME).fill_null(now))
        .with_columns(pl.col(TIME).dt.truncate(f"{minutes}m").alias("window"))
        .sort(TIME, "source", "line", nulls_last=True)
        .group_by("kind", "subject", "host", "window", maintain_order=True)
        .agg(
            pl.len().alias("count"),
            pl.col(TIME).min().alias("first_seen"),
            pl.col(TIME).max().alias("last_seen"),
            pl.col("score").max(),
            pl.col("severity", "title", "explanation", "value", "value_kind", "tlp")
            .drop_nulls()
            .first(),
            pl.col("organization").first(),
            pl.struct("row", "source", "line", TIME, "field").head(MAX_LINES).alias("lines"),
        )
    )


def write_alerts(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    hits: pl.DataFrame,
    frame: pl.DataFrame | None,
    window: timedelta,
    retro: bool = False,
) -> AlertCounts:
    """Create or update the alerts of ``hits`` in the session's transaction (caller commits).

    ``frame`` is the telemetry batch the ``row`` column points into (for the normalised
    events); without it (analytics over several batches) the lines keep file and line only.
    """
    counts = AlertCounts()
    if hits.is_empty():
        return counts
    now = clock.now()
    groups = _groups(hits, window=window, now=now)
    keys = [
        _key(kind, subject, host, start)
        for kind, subject, host, start in groups.select(
            "kind", "subject", "host", "window"
        ).iter_rows()
    ]
    existing: dict[str, Alert] = {}
    for start in range(0, len(keys), 500):
        for found in session.scalars(select(Alert).where(Alert.key.in_(keys[start : start + 500]))):
            existing[found.key] = found
    kept: dict[str, int] = {}
    if existing:
        for alert_id, lines in session.execute(
            select(AlertLine.alert_id, func.count())
            .where(AlertLine.alert_id.in_([a.id for a in existing.values()]))
            .group_by(AlertLine.alert_id)
        ):
            kept[alert_id] = int(lines)
    observations: list[Observation] = []
    for key, group in zip(keys, groups.iter_rows(named=True), strict=True):
        alert: Alert | None = existing.get(key)
        if alert is None:
            alert = _new_alert(key=key, group=group, now=now, retro=retro)
            session.add(alert)
            session.flush()
            counts.new += 1
            room = MAX_LINES
            record_change(
                session,
                clock=clock,
                actor=actor,
                action="detect.alert",
                subject=alert.id,
                detail=alert_summary(alert),
            )
        else:
            alert.count += int(group["count"])
            alert.first_seen = min(alert.first_seen, group["first_seen"])
            alert.last_seen = max(alert.last_seen, group["last_seen"])
            alert.score = max(alert.score, int(group["score"] or 0))
            alert.updated_at = now
            counts.updated += 1
            room = MAX_LINES - kept.get(alert.id, 0)
        _add_lines(session, alert_id=alert.id, lines=group["lines"][: max(room, 0)], frame=frame)
        if group["kind"] == "indicator":
            observations.append(
                Observation(
                    indicator_id=group["subject"],
                    count=int(group["count"]),
                    first_seen=group["first_seen"],
                    last_seen=group["last_seen"],
                    where=f"host {group['host']} ({group['organization']})",
                    retro=retro,
                )
            )
    recorded = write_sightings(session, clock=clock, actor=actor, observations=observations)
    counts.sightings = len(recorded.objects) if recorded else 0
    return counts


def _new_alert(*, key: str, group: dict[str, Any], now: datetime, retro: bool) -> Alert:
    kind = group["kind"]
    return Alert(
        id=str(uuid.uuid4()),
        key=key,
        kind=kind,
        title=(group["title"] or kind)[:300],
        severity=group["severity"] if group["severity"] in SEVERITIES else "medium",
        score=int(group["score"] or 0),
        indicator_id=group["subject"] if kind == "indicator" else None,
        rule_id=group["subject"][:200] if kind == "sigma" else None,
        value=(group["value"] or None) and group["value"][:2000],
        value_kind=group["value_kind"],
        host=group["host"][:300],
        organization=group["organization"][:200],
        window_start=group["window"].astimezone(UTC),
        first_seen=group["first_seen"],
        last_seen=group["last_seen"],
        count=int(group["count"]),
        status="new",
        case_id=None,
        retro=retro,
        tlp=group["tlp"],
        explanation=group["explanation"] or "",
        created_at=now,
        updated_at=now,
    )


def _add_lines(
    session: Session,
    *,
    alert_id: str,
    lines: list[dict[str, Any]],
    frame: pl.DataFrame | None,
) -> None:
    rows = [line["row"] for line in lines]
    events: list[dict[str, Any]] = []
    if frame is not None and all(row is not None for row in rows):
        events = normalised_events(frame, rows)
    for position, line in enumerate(lines):
        session.add(
            AlertLine(
                alert_id=alert_id,
                source=(line["source"] or "-")[:1000],
                line=int(line["line"] or 0),
                seen_at=line[TIME],
                field=line["field"],
                event=events[position] if events else {},
            )
        )


def alert_summary(alert: Alert) -> dict[str, Any]:
    """What a ``detect.alert`` event carries (and the audit entry records)."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "title": alert.title,
        "severity": alert.severity,
        "score": alert.score,
        "indicator_id": alert.indicator_id,
        "rule_id": alert.rule_id,
        "value": alert.value,
        "value_kind": alert.value_kind,
        "host": alert.host,
        "organization": alert.organization,
        "count": alert.count,
        "first_seen": alert.first_seen.isoformat(),
        "retro": alert.retro,
        "tlp": alert.tlp,
    }
