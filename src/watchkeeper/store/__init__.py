"""Storage: database, sessions, locks and migrations (SQLite by default, PostgreSQL at scale)."""

from watchkeeper.store.base import Base, JSONValue, SeqType, UTCDateTime
from watchkeeper.store.database import Database
from watchkeeper.store.locks import serialize
from watchkeeper.store.migrate import current_revision, upgrade

__all__ = [
    "Base",
    "Database",
    "JSONValue",
    "SeqType",
    "UTCDateTime",
    "current_revision",
    "serialize",
    "upgrade",
]
