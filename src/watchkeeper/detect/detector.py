"""One telemetry batch through every detector, its alerts committed with what it consumed.

``detect run``, ``detect serve`` and the retro-hunt share this: the batch is matched against
the live indicator index and the Sigma rules and scored by the analytics that work batch by
batch (DGA); the hits become alerts and sightings in one transaction, together with whatever
the caller must record as consumed (a follower's file offset), so a crash never loses a
batch's alerts nor raises them twice. Analytics that need the whole stream (beaconing,
first-seen domains) accumulate small columns here and run in :meth:`Detector.finish`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy.orm import Session

from watchkeeper.detect.alerts import AlertCounts, write_alerts
from watchkeeper.detect.early_warning import EarlyWarning
from watchkeeper.detect.hits import indicator_hits
from watchkeeper.detect.live import LiveIndex
from watchkeeper.detect.retention import retain
from watchkeeper.intel import ScoringPolicy
from watchkeeper.node import Node

if TYPE_CHECKING:  # pySigma takes most of a second to import: only rule users load it
    from watchkeeper.detect.sigma_rules import RuleSet

REFRESH_SECONDS = 5.0


@dataclass
class Tally:
    """What detection saw and did, summed over batches."""

    events: int = 0
    matches: Counter[str] = field(default_factory=Counter)  # indicator value kinds, analytics
    rules: Counter[str] = field(default_factory=Counter)  # Sigma rule title -> events
    alerts: AlertCounts = field(default_factory=AlertCounts)
    retained_files: int = 0

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "events": self.events,
            "matches": dict(sorted(self.matches.items())),
            "rules": dict(self.rules.most_common()),
            "alerts": {"new": self.alerts.new, "updated": self.alerts.updated},
            "sightings": self.alerts.sightings,
            "retained_files": self.retained_files,
        }


class Detector:
    """The detectors of one run, and what they share across its batches."""

    def __init__(
        self,
        *,
        node: Node,
        actor: str,
        live: LiveIndex | None = None,
        retain_telemetry: bool | None = None,
        retro: bool = False,
        follow: bool = True,
        rules: RuleSet | None = None,
        analytics: bool = True,
    ) -> None:
        self.node = node
        self.actor = actor
        self.retro = retro
        self.follow = follow  # take in new intelligence while running (a hunt does not)
        settings = node.settings
        self.window = timedelta(minutes=settings.detect_alert_window_minutes)
        self.rebuild_after = timedelta(minutes=settings.detect_index_rebuild_minutes)
        self.retain = settings.detect_retain if retain_telemetry is None else retain_telemetry
        self.retention_root = telemetry_root(node)
        if live is None:
            with node.database.reader() as session:
                live = LiveIndex.build(
                    session=session,
                    policy=ScoringPolicy.from_settings(settings),
                    now=node.clock.now(),
                )
        self.live = live
        self.rules = rules
        self.early = EarlyWarning() if analytics else None
        self._refreshed = time.monotonic()
        self.tally = Tally()

    def refresh(self, *, force: bool = False) -> None:
        """Take in new intelligence, at most every few seconds."""
        if not self.follow or (not force and time.monotonic() - self._refreshed < REFRESH_SECONDS):
            return
        with self.node.database.reader() as session:
            self.live.refresh(
                session=session, now=self.node.clock.now(), rebuild_after=self.rebuild_after
            )
        self._refreshed = time.monotonic()

    def process(
        self,
        frame: pl.DataFrame,
        *,
        consumed: Callable[[Session], None] | None = None,
        name: str | None = None,
    ) -> AlertCounts:
        """Detect on one batch; ``consumed`` runs in the alerts' transaction.

        The batch is retained first, under ``name`` when given: a batch read again after a
        crash (same name) replaces its file instead of being kept twice.
        """
        self.refresh()
        if self.retain:
            self.tally.retained_files += len(
                retain(frame=frame, root=self.retention_root, name=name)
            )
        with self.node.database.transaction() as session:
            hits = indicator_hits(session=session, live=self.live, frame=frame)
            for kind, count in hits["value_kind"].value_counts().iter_rows():
                self.tally.matches[kind] += count
            parts = [hits]
            if self.rules is not None and self.rules.supported:
                from watchkeeper.detect.rule_hits import rule_hits  # rules given: pySigma loaded

                fired, _ = rule_hits(rules=self.rules, frame=frame)
                self.tally.matches["sigma"] += fired.height
                for title, count in fired["title"].value_counts().iter_rows():
                    self.tally.rules[title] += count
                parts.append(fired)
            if self.early is not None:
                warned = self.early.observe(frame)
                self.tally.matches["dga"] += warned.height
                parts.append(warned)
            counts = write_alerts(
                session,
                clock=self.node.clock,
                actor=self.actor,
                hits=pl.concat(parts),
                frame=frame,
                window=self.window,
                retro=self.retro,
            )
            if consumed is not None:
                consumed(session)
        self.tally.events += frame.height
        self.tally.alerts.add(counts)
        return counts

    def finish(self) -> AlertCounts:
        """Run the analytics that need a stretch of traffic (beaconing, first-seen domains);
        their alerts are committed here."""
        if self.early is None:
            return AlertCounts()
        with self.node.database.transaction() as session:
            hits = self.early.finish(session, now=self.node.clock.now())
            for kind, count in hits["kind"].value_counts().iter_rows():
                self.tally.matches[kind] += count
            counts = write_alerts(
                session,
                clock=self.node.clock,
                actor=self.actor,
                hits=hits,
                frame=None,
                window=self.window,
                retro=self.retro,
            )
        self.tally.alerts.add(counts)
        return counts


BUILTIN_RULES = Path(str(resources.files("watchkeeper") / "data" / "rules" / "sigma"))


def rule_paths(node: Node, rules_dir: Path | None = None) -> list[Path]:
    """Where the Sigma rules come from: the built-in rules, then ``rules_dir`` if given, else
    the node's rules directory (``detect_rules_dir``, or data_dir/rules/sigma when present)."""
    own = rules_dir or node.settings.detect_rules_dir or node.data_dir / "rules" / "sigma"
    return [BUILTIN_RULES, own] if rules_dir is not None or own.exists() else [BUILTIN_RULES]


def telemetry_root(node: Node) -> Path:
    """Where retained telemetry lives."""
    return node.data_dir / "telemetry"
