"""Sealed packages this node sent to, or received from, another state.

One row per package and direction. The received rows are what refuses a replayed package
(the same package id received twice); the sent rows tie the "send-abroad" custody events to
the exact manifest (its SHA-256) that left the node.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, JSONValue, UTCDateTime

DIRECTIONS = ("sent", "received")


class EvidencePackage(Base):
    """A package by id and direction, with the peer and the manifest it was made of."""

    __tablename__ = "evidence_packages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    direction: Mapped[str] = mapped_column(String(10), primary_key=True)
    peer_code: Mapped[str] = mapped_column(String(40))
    peer_fingerprint: Mapped[str] = mapped_column(String(64))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    authority_ref: Mapped[str | None] = mapped_column(String(200))
    item_count: Mapped[int] = mapped_column(Integer)
    exhibits: Mapped[list[Any]] = mapped_column(JSONValue)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
