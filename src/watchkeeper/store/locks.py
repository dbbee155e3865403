"""Serialising writers that append to a chain or a sequence (audit ledger, event log).

On PostgreSQL a transaction-scoped advisory lock orders such writers, so that a row's sequence
number and its commit order agree and a reader's cursor never skips a late-committing row.
On SQLite, write transactions begin IMMEDIATE (see ``Database``), which already serialises them.
"""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def serialize(session: Session, name: str) -> None:
    """Hold the named lock until the session's transaction ends (no-op on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(name.encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
