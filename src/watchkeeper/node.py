"""The Node: everything one process needs, built once from ``Settings`` and passed around.

Nothing is built at import time: the CLI builds a node per command, the web app one per app,
each test its own on a throwaway SQLite file (or PostgreSQL schema).
"""

from __future__ import annotations

from pathlib import Path

from watchkeeper.bus import STATS_SUBSCRIBER, Dispatcher, count_event
from watchkeeper.config import Settings
from watchkeeper.core import Clock, SystemClock
from watchkeeper.security import NodeIdentity, init_keys, load_identity, record_change
from watchkeeper.store import Database, upgrade


class Node:
    """Settings, clock, database and event dispatcher of one Watchkeeper node."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.database = Database(settings.effective_database_url)
        self.dispatcher = Dispatcher(
            self.database,
            clock=self.clock,
            max_attempts=settings.bus_max_attempts,
            backoff_seconds=settings.bus_backoff_seconds,
        )
        self.dispatcher.subscribe(STATS_SUBSCRIBER, count_event)

    @property
    def data_dir(self) -> Path:
        """The node's data directory (created on demand)."""
        return self.settings.data_dir

    def start(self, *, migrate: bool = True) -> Node:
        """Check the database answers (clear error naming it if not) and migrate it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database.check()
        if migrate:
            upgrade(self.database)
        return self

    def identity(self) -> NodeIdentity:
        """The node's public identity (``NotFound`` before ``node init``)."""
        return load_identity(self.data_dir)

    def init_identity(
        self, *, actor: str, code: str, name: str, country: str, force: bool = False
    ) -> NodeIdentity:
        """Create the node's keys (refusing to overwrite unless ``force``) and audit it."""
        identity = init_keys(
            self.data_dir, code=code, name=name, country=country, clock=self.clock, force=force
        )
        with self.database.transaction() as session:
            record_change(
                session,
                clock=self.clock,
                actor=actor,
                action="node.init",
                subject=f"node:{code}",
                detail={"fingerprint": identity.fingerprint, "replaced": force},
            )
        return identity

    def close(self) -> None:
        """Release database connections."""
        self.database.dispose()
