"""``detect run``: telemetry files read, matched, alerted on, retained, with a run record.

A run is recorded before it reads anything (status ``running``) and closed with its counts
(``done``) or its error (``failed``), so an interrupted run is visible as such; the alerts of
every batch it finished are already committed. Malformed lines are counted and the first few
kept with file and line; they never stop a file.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper.detect.detector import Detector, Tally
from watchkeeper.detect.live import LiveIndex
from watchkeeper.detect.models import DetectionRun
from watchkeeper.detect.telemetry import read_telemetry
from watchkeeper.errors import WatchkeeperError
from watchkeeper.node import Node
from watchkeeper.security import record_change

if TYPE_CHECKING:
    from watchkeeper.detect.sigma_rules import RuleSet

MALFORMED_KEPT = 20


@dataclass
class RunReport:
    """What one run read and found."""

    id: str
    kind: str
    sources: list[str]
    tally: Tally
    malformed_count: int = 0
    malformed: list[str] = field(default_factory=list)  # "file:line: reason", the first few
    formats: dict[str, int] = field(default_factory=dict)  # format -> batches
    index_entries: int = 0
    index_bytes: int = 0
    seconds: float = 0.0

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "run": self.id,
            "kind": self.kind,
            "sources": self.sources,
            **self.tally.document(),
            "malformed_lines": self.malformed_count,
            "malformed": self.malformed,
            "formats": self.formats,
            "index": {"entries": self.index_entries, "bytes": self.index_bytes},
            "seconds": round(self.seconds, 3),
        }


def start_run(node: Node, *, kind: str, actor: str, sources: Sequence[str]) -> str:
    """Record a run as started; returns its id."""
    run_id = str(uuid.uuid4())
    with node.database.transaction() as session:
        session.add(
            DetectionRun(
                id=run_id,
                kind=kind,
                actor=actor,
                started_at=node.clock.now(),
                finished_at=None,
                status="running",
                sources=list(sources)[:100],
                counts={},
                malformed=[],
                error=None,
            )
        )
    return run_id


def finish_run(node: Node, *, report: RunReport, actor: str, error: str | None = None) -> None:
    """Close the run record with its counts (and audit it) or with its error."""
    with node.database.transaction() as session:
        run = session.get(DetectionRun, report.id)
        if run is None:
            return
        run.finished_at = node.clock.now()
        run.status = "failed" if error else "done"
        run.counts = report.document()
        run.malformed = report.malformed
        run.error = error
        record_change(
            session,
            clock=node.clock,
            actor=actor,
            action=f"detect.{report.kind}",
            subject=report.id,
            detail={**report.tally.document(), "malformed_lines": report.malformed_count,
                    "status": run.status, "error": error},
        )  # fmt: skip


def run_detection(
    *,
    node: Node,
    actor: str,
    paths: Sequence[str],
    format: str = "auto",
    mapping: Path | None = None,
    retain_telemetry: bool | None = None,
    batch_rows: int = 200_000,
    on_progress: Callable[[int], None] | None = None,
    live: LiveIndex | None = None,
    rules: RuleSet | None = None,
) -> RunReport:
    """Read ``paths`` (files, directories, globs, ``-``), detect, and record the run."""
    started = time.perf_counter()
    run_id = start_run(node, kind="run", actor=actor, sources=paths)
    report = RunReport(id=run_id, kind="run", sources=list(paths), tally=Tally())
    try:
        detector = Detector(
            node=node, actor=actor, live=live, retain_telemetry=retain_telemetry, rules=rules
        )
        report.tally = detector.tally
        memory = detector.live.memory()
        report.index_entries, report.index_bytes = memory.entries, memory.index_bytes
        batches = read_telemetry(
            paths=paths,
            format=format,
            mapping=mapping,
            batch_rows=batch_rows,
            on_progress=on_progress,
        )
        for number, batch in enumerate(batches):
            report.formats[batch.format] = report.formats.get(batch.format, 0) + 1
            report.malformed_count += batch.malformed_count
            room = MALFORMED_KEPT - len(report.malformed)
            report.malformed.extend(
                f"{bad.path}:{bad.line}: {bad.reason}" for bad in batch.malformed[:room]
            )
            if batch.frame.height:
                detector.process(batch.frame, name=f"{run_id}-{number:06d}")
        detector.finish()
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
