"""The score test of an export: which indicators are expired or below the asked minimum.

A score depends on time, sightings and settings, so it cannot be a SQL condition; the gate is
asked row by row while the selection streams. It reads every current sighting and opinion
once per export (they are few next to indicators) and remembers each indicator's verdict, so
an indicator carrying many values is scored once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from watchkeeper.intel.models import StixObject
from watchkeeper.intel.scoring import (
    Feedback,
    ScoringPolicy,
    evidence,
    feedback,
    kinds_of,
    score,
    sources_of,
)

MEMORY = 100_000  # verdicts kept (cleared when full: a value export is ordered by value)


class ScoreGate:
    """Decides per indicator row: ``None`` (release), ``"expired"`` or ``"below_min_score"``."""

    def __init__(
        self,
        connection: Connection,
        *,
        policy: ScoringPolicy,
        now: datetime,
        min_score: float | None,
        include_expired: bool,
    ) -> None:
        self._connection = connection
        self._policy = policy
        self._now = now
        self._min_score = min_score
        self._include_expired = include_expired
        self._feedback: dict[str, Feedback] | None = None
        self._verdicts: dict[tuple[str, str], str | None] = {}

    @property
    def active(self) -> bool:
        """Whether any row can be held back (else the selection skips the work)."""
        return not self._include_expired or self._min_score is not None

    def reason(
        self,
        *,
        id: str,
        modified: str,
        doc: str,
        confidence: int | None,
        sources: str | None,
        kinds: str | None,
    ) -> str | None:
        """Why this indicator version is held back, or None to release it."""
        key = (id, modified)
        if key in self._verdicts:
            return self._verdicts[key]
        if self._feedback is None:
            self._feedback = feedback(self._connection)
        result = score(
            evidence(
                doc=doc,
                confidence=confidence,
                sources=sources,
                kinds=(kinds or "").split(","),
                modified=modified,
                feedback=self._feedback.get(id),
            ),
            policy=self._policy,
            now=self._now,
        )
        verdict: str | None = None
        if result.value <= 0 and not self._include_expired:
            verdict = "expired"
        elif self._min_score is not None and result.value < self._min_score:
            verdict = "below_min_score"
        if len(self._verdicts) >= MEMORY:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict

    def columns(self, dialect: str) -> list[Any]:
        """Type, id, modified, doc, confidence, sources, kinds: what the test reads per row.

        None when the gate is inactive, so an export with ``include_expired`` costs nothing.
        """
        if not self.active:
            return []
        o = StixObject
        return [
            o.type,
            o.id,
            o.modified,
            o.doc,
            o.confidence,
            sources_of(dialect).label("sources"),
            kinds_of(dialect).label("kinds"),
        ]

    def filter(
        self,
        rows: Iterator[tuple[Any, ...]],
        *,
        extra_at: int,
        skip: Callable[[str], None],
    ) -> Iterator[tuple[Any, ...]]:
        """``rows`` less the indicators held back, each counted with ``skip(reason)``.

        The :meth:`columns` follow the row's own columns from position ``extra_at``.
        """
        if not self.active:
            yield from rows
            return
        for row in rows:
            kind, identifier, modified, doc, confidence, sources, kinds = row[
                extra_at : extra_at + 7
            ]
            if kind == "indicator":
                reason = self.reason(
                    id=identifier,
                    modified=modified,
                    doc=doc,
                    confidence=confidence,
                    sources=sources,
                    kinds=kinds,
                )
                if reason is not None:
                    skip(reason)
                    continue
            yield row
