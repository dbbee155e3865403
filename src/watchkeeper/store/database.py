"""The node's database: engines, write and read sessions, and a reachability check.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Its write transactions begin
IMMEDIATE, so two writers queue on the lock instead of failing half-way with "database is
locked" after reading; readers use a second engine with ordinary deferred transactions and never
block writers. PostgreSQL (psycopg 3) uses one pooled engine for both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.config import mask_url
from watchkeeper.errors import StorageError

SQLITE_BUSY_MS = 30_000


def _normalise(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_engine(url: str, *, begin: str) -> Engine:
    # Connections are cheap; enough of them that API threads do not queue for the pool.
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_MS / 1000}, pool_size=20, max_overflow=40
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN is ours to choose.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Larger pages for new files (no effect on existing ones): bulk imports write fewer
        # index pages per commit (benchmarks/intel_ingest.py).
        cursor.execute("PRAGMA page_size=16384")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 64 MiB of page cache (default 2 MiB): bulk imports update indexes on random keys.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


class Database:
    """Engines and sessions of one database URL."""

    def __init__(self, url: str) -> None:
        self.url = _normalise(url)
        self.masked_url = mask_url(self.url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(self.url, begin="BEGIN IMMEDIATE")
            self.read_engine = _sqlite_engine(self.url, begin="BEGIN")
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=10)
            self.read_engine = self.engine
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any exception."""
        with self._writer.begin() as session:
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reading only; whatever it did is rolled back at the end."""
        with self._reader() as session:
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A bare read connection for hot read paths (no ORM session); rolled back at the end."""
        with self.read_engine.connect() as connection:
            yield connection

    def check(self) -> None:
        """Fail with a ``StorageError`` naming the URL (password masked) if unreachable."""
        try:
            with self.read_engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StorageError(
                f"database unreachable at {self.masked_url}: {reason}", url=self.masked_url
            ) from None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
