"""Table of the states registry: who is party to which instrument, since when, and how to reach
them (central authority, 24/7 point of contact, accepted languages).

Per-instrument facts live in one JSON column, keyed by instrument id, because the set of
instruments is data (packs can be added without a migration). Each entry carries its own
``verified`` flag and source: many dates are reported, not read in the depositary's records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, JSONValue, UTCDateTime


class CoopState(Base):
    """One state (or regional economic integration organisation) by ISO 3166 alpha-2 code."""

    __tablename__ = "coop_states"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    central_authority: Mapped[str] = mapped_column(Text, default="")
    poc: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    reio: Mapped[bool] = mapped_column(Boolean, default=False)
    instruments: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(200))
