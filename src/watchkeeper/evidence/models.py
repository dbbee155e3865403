"""Tables of the evidence vault: items and their hash-chained, signed custody events.

Content itself never lives in the database: it is stored once per SHA-256 under the vault
directory, read-only. A row of ``evidence_items`` names the content by its hashes; every touch
of an item is a ``custody_events`` row chained to the one before (``prev_hash``), signed by the
node's key, and the item's ``custody_head`` repeats the newest event hash so that cutting the
tail of a chain is found too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, JSONValue, SeqType, UTCDateTime

KINDS = (
    "device",
    "media",
    "disk-image",
    "memory",
    "file",
    "log",
    "cloud-export",
    "provider-production",
)
STATUSES = ("sealed", "checked-out", "in-analysis", "shared", "returned", "disposed")
ACTIONS = (
    "collect",
    "seize",
    "receive",
    "transfer",
    "check-out",
    "check-in",
    "image",
    "hash-verify",
    "analyse",
    "export",
    "send-abroad",
    "return",
    "dispose",
)
DATA_CATEGORIES = ("subscriber", "traffic", "content", "identification")


class EvidenceItem(Base):
    """One exhibit: a file with content, or a parent (directory, device) without content."""

    __tablename__ = "evidence_items"
    __table_args__ = (
        Index("ix_evidence_items_case_ref", "case_ref"),
        Index("ix_evidence_items_sha256", "sha256"),
        Index("ix_evidence_items_parent_id", "parent_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    exhibit_number: Mapped[str] = mapped_column(String(60), unique=True)
    root_exhibit: Mapped[str] = mapped_column(String(60))
    parent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("evidence_items.id", ondelete="RESTRICT")
    )
    case_ref: Mapped[str | None] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(1000))
    acquisition: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    legal: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    size: Mapped[int | None] = mapped_column(BigInteger)
    media_type: Mapped[str | None] = mapped_column(String(200))
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    sha256: Mapped[str | None] = mapped_column(String(64))
    blake3: Mapped[str | None] = mapped_column(String(64))
    original_name: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    custody_head: Mapped[str] = mapped_column(String(64))


class CustodyEvent(Base):
    """One touch of an item, chained to the previous one and signed by the node."""

    __tablename__ = "custody_events"
    __table_args__ = (UniqueConstraint("item_id", "seq", name="uq_custody_events_item_id_seq"),)

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("evidence_items.id", ondelete="RESTRICT")
    )
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    location: Mapped[str | None] = mapped_column(String(300))
    purpose: Mapped[str | None] = mapped_column(Text)
    authority_ref: Mapped[str | None] = mapped_column(String(200))
    hash_before: Mapped[str | None] = mapped_column(String(64))
    hash_after: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    prev_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))
    signer: Mapped[str] = mapped_column(String(64))
