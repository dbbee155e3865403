"""The table of playbook versions: every text ever loaded, and which one is active.

A version is the hash of the text, so the same file loaded twice is one row and an edited file
is a new row. At most one version per name is ``active`` (the one triggers start); the others
are ``draft`` (loaded, never enabled) or ``disabled`` (was active, or switched off).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, UTCDateTime

PLAYBOOK_STATUSES = ("draft", "active", "disabled")


class PlaybookVersion(Base):
    """One loaded text of one playbook."""

    __tablename__ = "playbooks"
    __table_args__ = (Index("ix_playbooks_status", "status"),)

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[str] = mapped_column(String(12), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)  # 1, 2, 3... per name, in load order
    status: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(Text)
    file: Mapped[str] = mapped_column(String(1000))
    builtin: Mapped[bool] = mapped_column(Boolean)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    loaded_by: Mapped[str] = mapped_column(String(200))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    activated_by: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_by: Mapped[str | None] = mapped_column(String(200))
