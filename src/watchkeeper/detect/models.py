"""Tables of detection: alerts with the lines that matched, runs, known domains, cursors.

An alert aggregates hits: one row per (what fired, host, time window), its count and last-seen
time updated as more telemetry arrives, so a beaconing host gives one alert an hour rather than
thousands. Only the first lines of an alert are kept verbatim (``MAX_LINES``), each with its
source file and line and the normalised event: enough to show and to preserve as evidence
without storing the telemetry twice (the day partitions keep the rest, see ``retention``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, JSONValue, SeqType, UTCDateTime

MAX_LINES = 20
ALERT_KINDS = ("indicator", "sigma", "dga", "beacon", "rare-domain")
ALERT_STATUSES = ("new", "acknowledged", "escalated", "closed")


class Alert(Base):
    """Hits of one indicator, rule or analytic on one host in one time window."""

    __tablename__ = "detect_alerts"
    __table_args__ = (
        Index("ix_detect_alerts_status_last_seen", "status", "last_seen"),
        Index("ix_detect_alerts_kind", "kind"),
        Index("ix_detect_alerts_indicator_id", "indicator_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # kind, subject, host and window start: what makes two hits the same alert
    key: Mapped[str] = mapped_column(String(700), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(Integer)
    indicator_id: Mapped[str | None] = mapped_column(String(300))
    rule_id: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[str | None] = mapped_column(String(2000))
    value_kind: Mapped[str | None] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(300))
    organization: Mapped[str] = mapped_column(String(200))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[str | None] = mapped_column(String(36))
    retro: Mapped[bool] = mapped_column(Boolean)
    tlp: Mapped[str | None] = mapped_column(String(20))
    explanation: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertLine(Base):
    """One telemetry line that matched, as read (file and line) and as normalised."""

    __tablename__ = "detect_alert_lines"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey(Alert.id, ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(1000))
    line: Mapped[int] = mapped_column(BigInteger)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    field: Mapped[str | None] = mapped_column(String(100))  # the column that matched
    event: Mapped[dict[str, Any]] = mapped_column(JSONValue)


class DetectionRun(Base):
    """One pass of detection over telemetry (``detect run``, ``hunt``, a ``serve`` batch)."""

    __tablename__ = "detect_runs"
    __table_args__ = (Index("ix_detect_runs_started_at", "started_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # run | hunt | serve
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10))  # running | done | failed
    sources: Mapped[list[Any]] = mapped_column(JSONValue)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    malformed: Mapped[list[Any]] = mapped_column(JSONValue)  # the first few, file:line:reason
    error: Mapped[str | None] = mapped_column(Text)


class KnownDomain(Base):
    """A registrable domain an organisation's telemetry has shown, for first-seen analytics."""

    __tablename__ = "detect_known_domains"

    organization: Mapped[str] = mapped_column(String(200), primary_key=True)
    domain: Mapped[str] = mapped_column(String(300), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(BigInteger)


class Cursor(Base):
    """Where a continuous reader or the retro-hunt stopped (offsets, a ``seq``), by name."""

    __tablename__ = "detect_cursors"

    name: Mapped[str] = mapped_column(String(1000), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
