"""Time: one clock per node, so tests can fix it and every timestamp is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; naive values (as SQLite returns them) are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def stix_time(moment: datetime) -> str:
    """A STIX timestamp as the store keeps them (UTC, microseconds, Z): text order is time
    order, so stored timestamps compare and sort as strings."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock(Protocol):
    """Something that tells the current time."""

    def now(self) -> datetime:
        """The current time, aware UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """The current time, aware UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved; for tests and replayed exercises."""

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)

    def now(self) -> datetime:
        """The fixed time."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self._now += delta
