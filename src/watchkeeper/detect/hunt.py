"""Retro-hunt: indicators that arrived since the last hunt, searched in retained telemetry.

An indicator published today often names infrastructure that was active last week. The hunt
compiles an index of only the indicator versions stored since its cursor (or all of them with
``all_indicators``), searches the retained day partitions of the last N days, and writes the
hits as alerts and sightings marked retro. The cursor moves only when the hunt completes, so
an interrupted hunt is repeated, and alerts it already raised are counted, not duplicated
(alerts aggregate by key).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.detect.detector import Detector, Tally, telemetry_root
from watchkeeper.detect.live import LiveIndex
from watchkeeper.detect.models import Cursor
from watchkeeper.detect.retention import partitions, scan
from watchkeeper.detect.runs import RunReport, finish_run, start_run
from watchkeeper.errors import InvalidInput, WatchkeeperError
from watchkeeper.intel import ScoringPolicy, StixObject
from watchkeeper.node import Node

CURSOR = "hunt"


def parse_since(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` or a number of days."""
    value = text.strip().lower()
    units = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
    try:
        if value and value[-1] in units:
            amount = float(value[:-1])
            delta = timedelta(**{units[value[-1]]: amount})
        else:
            delta = timedelta(days=float(value))
    except ValueError:
        raise InvalidInput(
            f"--since {text!r}: expected a duration such as 30d, 12h or 90m", field="since"
        ) from None
    if delta <= timedelta(0):
        raise InvalidInput(f"--since {text!r}: must be positive", field="since")
    return delta


def hunt_cursor(session: Session) -> int:
    """The last indicator version already hunted for (0: none yet)."""
    cursor = session.get(Cursor, CURSOR)
    return int(cursor.value.get("seq", 0)) if cursor else 0


def _move_cursor(session: Session, *, seq: int, now: datetime, detail: dict[str, Any]) -> None:
    cursor = session.get(Cursor, CURSOR)
    value = {"seq": seq, **detail}
    if cursor is None:
        session.add(Cursor(name=CURSOR, value=value, updated_at=now))
    else:
        cursor.value, cursor.updated_at = value, now


def hunt(
    *,
    node: Node,
    actor: str,
    since: timedelta | None = None,
    all_indicators: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    """Search the retained telemetry of the last ``since`` (default: the retention period)."""
    started = time.perf_counter()
    now = node.clock.now()
    window = since or timedelta(days=node.settings.detect_retention_days)
    root = telemetry_root(node)
    run_id = start_run(node, kind="hunt", actor=actor, sources=[f"retained:{window}"])
    report = RunReport(id=run_id, kind="hunt", sources=[f"last {window}"], tally=Tally())
    try:
        with node.database.reader() as session:
            first = 0 if all_indicators else hunt_cursor(session)
            live = LiveIndex.build(
                session=session,
                policy=ScoringPolicy.from_settings(node.settings),
                now=now,
                since_seq=first,
            )
        memory = live.memory()
        report.index_entries, report.index_bytes = memory.entries, memory.index_bytes
        detector = Detector(
            node=node,
            actor=actor,
            live=live,
            retain_telemetry=False,
            retro=True,
            follow=False,
            analytics=False,
        )
        report.tally = detector.tally
        oldest = now.astimezone(UTC) - window
        if live.base.entries:
            total = sum(p.files for p in partitions(root=root) if p.day >= oldest.date())
            for done, (_path, frame) in enumerate(scan(root=root, since=oldest), start=1):
                if frame.height:
                    detector.process(frame)
                if on_progress is not None:
                    on_progress(done, total)
        with node.database.transaction() as session:
            _move_cursor(
                session,
                seq=max(live.high_seq, first),
                now=node.clock.now(),
                detail={"run": run_id, "since": str(window)},
            )
    except WatchkeeperError as exc:
        report.seconds = time.perf_counter() - started
        finish_run(node, report=report, actor=actor, error=exc.message)
        raise
    except BaseException as exc:
        report.seconds = time.perf_counter() - started
        finish_run(node, report=report, actor=actor, error=f"interrupted: {type(exc).__name__}")
        raise
    report.seconds = time.perf_counter() - started
    finish_run(node, report=report, actor=actor)
    return report


def hunt_due(session: Session) -> bool:
    """Whether indicators arrived since the last hunt."""
    o = StixObject
    newest = session.execute(select(func.max(o.seq)).where(o.type == "indicator")).scalar()
    return int(newest or 0) > hunt_cursor(session)
