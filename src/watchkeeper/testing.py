"""Helpers for tests of Watchkeeper and of its extensions: throwaway nodes with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from watchkeeper.config import load_settings
from watchkeeper.core import FixedClock
from watchkeeper.node import Node
from watchkeeper.security import add_user, create_token, parse_duration

FIXED_START = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)


def make_node(data_dir: Path, *, database_url: str | None = None, **settings: object) -> Node:
    """A migrated node in ``data_dir`` on a fixed clock (SQLite unless ``database_url``)."""
    values = {"data_dir": data_dir, "database_url": database_url, **settings}
    return Node(load_settings(**values), clock=FixedClock(FIXED_START)).start()


def issue_token(node: Node, *, name: str, roles: list[str], expires: str = "30d") -> str:
    """Create user ``name`` with ``roles`` and return a fresh API token secret for it."""
    with node.database.transaction() as session:
        add_user(session, clock=node.clock, actor="test", name=name, roles=roles)
        issued = create_token(
            session,
            clock=node.clock,
            actor="test",
            user_name=name,
            expires_in=parse_duration(expires),
        )
    return issued.secret
