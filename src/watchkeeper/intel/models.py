"""Tables of the intelligence store: STIX object versions, extracted values, provenance, imports.

Every version of every STIX object is one row of ``intel_objects``, keyed by (id, modified),
holding its canonical JSON verbatim (unknown types and custom properties included), so exports
and TAXII pages are served from stored serialisations. ``seq`` is assigned under a lock in
commit order: a cursor over it never skips a late-committing version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, JSONValue, SeqType, UTCDateTime


class StixObject(Base):
    """One version of one STIX object."""

    __tablename__ = "intel_objects"
    __table_args__ = (
        UniqueConstraint("id", "modified"),
        Index("ix_intel_objects_type_current", "type", "current"),
        Index("ix_intel_objects_added_at", "added_at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(300))  # looked up through the (id, modified) key
    type: Mapped[str] = mapped_column(String(250))
    # Timestamps as normalised text (microsecond precision, Z): exact, and ordered as strings.
    modified: Mapped[str] = mapped_column(String(32))
    created: Mapped[str | None] = mapped_column(String(32))
    spec_version: Mapped[str] = mapped_column(String(10))
    revoked: Mapped[bool] = mapped_column(Boolean)
    current: Mapped[bool] = mapped_column(Boolean)
    confidence: Mapped[int | None] = mapped_column(Integer)
    tlp: Mapped[str | None] = mapped_column(String(20))
    # Indicators: True when every comparison of the pattern was reduced to values.
    matchable: Mapped[bool | None] = mapped_column(Boolean)
    content_hash: Mapped[str] = mapped_column(String(64))
    doc: Mapped[str] = mapped_column(Text)
    # When this node stored the version (STIX timestamp text): TAXII's date_added. Set per
    # batch in seq order, so it never decreases along seq (cursors page by seq).
    added_at: Mapped[str] = mapped_column(String(32))


class SeqFloor(Base):
    """The highest ``seq`` ever deleted from a sequence (one row per sequence, by name).

    ``seq`` is assigned as one more than the largest stored, so deleting the newest version
    would hand its number to the next one, and a reader whose cursor already passed that
    number (a TAXII ``next``) would never see the newcomer. New numbers start above this floor.
    """

    __tablename__ = "intel_seq_floor"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class IndicatorValue(Base):
    """A normalised observable value carried by an indicator's pattern (or an observable)."""

    __tablename__ = "intel_values"
    __table_args__ = (Index("ix_intel_values_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    object_seq: Mapped[int] = mapped_column(
        ForeignKey("intel_objects.seq", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(Text)
    # Names of the warninglists the value hits (comma-separated); such values are not matched.
    warninglists: Mapped[str | None] = mapped_column(String(1000))


class ImportRun(Base):
    """One import: where from, by whom, how it went."""

    __tablename__ = "intel_imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    counts: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    rejects: Mapped[list[Any]] = mapped_column(JSONValue)


class Provenance(Base):
    """Which import (source, time) delivered which object version."""

    __tablename__ = "intel_provenance"

    object_seq: Mapped[int] = mapped_column(
        ForeignKey("intel_objects.seq", ondelete="CASCADE"), primary_key=True
    )
    import_id: Mapped[str] = mapped_column(
        ForeignKey("intel_imports.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class MispFeedEvent(Base):
    """The manifest timestamp of each event last read from a MISP feed, for incremental pulls.

    A pull reads only the events whose ``manifest.json`` timestamp differs from the one kept
    here, so a feed of thousands of events costs one manifest read when nothing changed.
    """

    __tablename__ = "intel_misp_feed_events"

    feed: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    import_id: Mapped[str] = mapped_column(String(36))
    pulled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FeedDefinition(Base):
    """A named feed: its declarative definition (JSON) and when it was last pulled.

    The definition is kept as validated JSON rather than columns so new optional fields of the
    YAML format need no migration; ``pull_feed`` re-validates it on every read.
    """

    __tablename__ = "intel_feeds"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_import_id: Mapped[str | None] = mapped_column(String(36))
