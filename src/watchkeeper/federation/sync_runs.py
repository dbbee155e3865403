"""The state of one run of a sync link: its report, its lease on the link, its cursor.

Only one process runs a link at a time: a run takes a lease on it (``runner``,
``running_until``) with one conditional UPDATE, renews it with every page and checks it when
saving the cursor, so a worker of a scaled-out node never runs a link another worker is
running, and a worker that died frees the link when its lease runs out. A failed run adds
one to ``failures``, keeps the error and backs off (:meth:`SyncPolicy.retry_delay`); a
successful one clears them. Runs that moved data, failed, or ended a series of failures are
audited and evented (``sync.pull``, ``sync.push``, ``sync.failed``); an idle scheduled run
that found nothing new only updates the link's timestamps.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, or_, update

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict
from watchkeeper.federation.models import SyncLink
from watchkeeper.federation.sync_links import PULL, SyncPolicy, get_link
from watchkeeper.federation.taxii_client import KEPT_DETAILS, AddStatus
from watchkeeper.intel import ImportReport
from watchkeeper.security import record_change
from watchkeeper.store import Database

Stop = Callable[[], bool]
Save = Callable[..., None]
"""Saves a run's cursor (and an audit entry, for a page sent) while the run holds its lease."""


@dataclass
class SyncRun:
    """What one run of a link did (also the link's ``last_report``)."""

    link: str
    peer: str
    direction: str
    url: str
    started_at: datetime
    ok: bool = True
    error: str | None = None
    pages: int = 0
    objects: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False
    cursor: dict[str, Any] = field(default_factory=dict)
    next_attempt_at: datetime | None = None

    def add_import(self, report: ImportReport, *, received: int) -> None:
        """Count a stored page."""
        self.objects += received
        self.created += report.created
        self.updated += report.updated
        self.unchanged += report.unchanged
        self.rejected += report.rejected
        for reject in report.rejects:
            if len(self.problems) < KEPT_DETAILS:
                self.problems.append(reject.document())

    def add_status(self, status: AddStatus, *, sent: int) -> None:
        """Count a page the partner accepted."""
        self.objects += sent
        self.succeeded += status.success
        self.failed += status.failure
        self.pending += status.pending
        self.problems.extend(status.failures[: KEPT_DETAILS - len(self.problems)])

    @property
    def moved(self) -> bool:
        """Whether the run transferred or stored anything."""
        return bool(self.objects)

    def counts(self) -> dict[str, int]:
        """The figures of the run for its direction."""
        keys: tuple[str, ...] = ("pages", "objects", "succeeded", "failed", "pending")
        if self.direction == PULL:
            keys = ("pages", "objects", "created", "updated", "unchanged", "rejected")
        return {key: getattr(self, key) for key in keys}

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "link": self.link,
            "peer": self.peer,
            "direction": self.direction,
            "url": self.url,
            **self.report(),
        }

    def report(self) -> dict[str, Any]:
        """What the link keeps of its last run (``last_report``)."""
        return {
            "ok": self.ok,
            "error": self.error,
            **self.counts(),
            "problems": self.problems,
            "more": self.more,
            "cursor": self.cursor,
            "started_at": self.started_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
        }


@dataclass(frozen=True)
class Snapshot:
    """The link as a run starts (read once; the run only writes its cursor and state)."""

    id: str
    peer: str
    direction: str
    url: str
    collection: str | None
    cursor: dict[str, Any]


class LeaseLost(Exception):
    """The link is no longer this run's: removed, or taken over by another process after
    this run's lease ran out."""


def rows_of(result: Any) -> int:
    """The rows an UPDATE matched."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def claim(
    database: Database, *, clock: Clock, link: str, policy: SyncPolicy, due_only: bool
) -> tuple[str, Snapshot] | None:
    """Take the lease of ``link``; None if a scheduled run finds it not due or taken."""
    token = str(uuid.uuid4())
    now = clock.now()
    with database.transaction() as session:
        row = get_link(session, link)
        conditions: list[ColumnElement[bool]] = [
            SyncLink.id == row.id,
            SyncLink.enabled.is_(True),
            or_(SyncLink.running_until.is_(None), SyncLink.running_until <= now),
        ]
        if due_only:
            conditions.append(
                or_(SyncLink.next_attempt_at.is_(None), SyncLink.next_attempt_at <= now)
            )
        claimed = session.execute(
            update(SyncLink)
            .where(*conditions)
            .values(runner=token, running_until=now + policy.lease, last_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        if rows_of(claimed) != 1:
            if due_only:
                return None
            session.refresh(row)
            if not row.enabled:
                raise Conflict(
                    f"sync link {row.id} is disabled; enable it with: watchkeeper sync set "
                    f"{row.id[:8]} --enable",
                    link=row.id,
                )
            raise Conflict(
                f"sync link {row.id} is being run by another process (lease until "
                f"{row.running_until.isoformat() if row.running_until else '?'})",
                link=row.id,
            )
        session.refresh(row)
        snapshot = Snapshot(
            id=row.id,
            peer=row.peer,
            direction=row.direction,
            url=row.collection_url,
            collection=row.local_collection,
            cursor=dict(row.cursor or {}),
        )
    return token, snapshot


def advance(
    database: Database,
    *,
    clock: Clock,
    link: str,
    token: str,
    cursor: dict[str, Any],
    policy: SyncPolicy,
    audit: tuple[str, str, dict[str, Any]] | None = None,
) -> None:
    """Save the cursor and renew the lease (with an audit entry, for a page sent)."""
    now = clock.now()
    with database.transaction() as session:
        saved = session.execute(
            update(SyncLink)
            .where(SyncLink.id == link, SyncLink.runner == token)
            .values(cursor=cursor, running_until=now + policy.lease)
            .execution_options(synchronize_session=False)
        )
        if rows_of(saved) != 1:
            raise LeaseLost(link)
        if audit is not None:
            actor, action, detail = audit
            record_change(
                session, clock=clock, actor=actor, action=action, subject=f"sync:{link}",
                detail=detail,
            )  # fmt: skip


def finish(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    token: str,
    run: SyncRun,
    policy: SyncPolicy,
    scheduled: bool,
) -> None:
    """End the run: state, schedule, report, and the audit entry when there is news."""
    now = clock.now()
    with database.transaction() as session:
        row = session.get(SyncLink, run.link)
        if row is None or row.runner != token:
            return  # removed while running, or taken over: not ours to update
        previous = row.failures
        row.runner, row.running_until = None, None
        # A push link woken while this run went on (intelligence stored since it was
        # claimed) runs again at once: this run may have read the collection before that.
        woken = (
            row.last_attempt_at is not None
            and row.next_attempt_at is not None
            and row.last_attempt_at < row.next_attempt_at <= now
        )
        if run.ok:
            row.failures, row.last_error, row.last_success_at = 0, None, now
            row.next_attempt_at = now if run.more or woken else now + policy.interval
        else:
            row.failures = previous + 1
            row.last_error = (run.error or "failed")[:2000]
            row.next_attempt_at = now + policy.retry_delay(row.failures)
        run.next_attempt_at = row.next_attempt_at
        row.last_report = run.report()
        if run.ok and not run.moved and not previous and scheduled:
            return  # an idle scheduled run: nothing to put on record
        action = f"sync.{run.direction}" if run.ok else "sync.failed"
        detail: dict[str, Any] = {
            "peer": run.peer,
            "direction": run.direction,
            "url": run.url,
            **run.counts(),
            "cursor": run.cursor,
            "next_attempt_at": row.next_attempt_at.isoformat(),
        }
        if run.ok and previous:
            detail["recovered_after"] = previous
        if not run.ok:
            detail.update(error=row.last_error, failures=row.failures)
        if run.problems:
            detail["problems"] = run.problems
        record_change(
            session, clock=clock, actor=actor, action=action, subject=f"sync:{run.link}",
            detail=detail,
        )  # fmt: skip


def release(database: Database, *, link: str, token: str) -> None:
    """Give the lease back after an interruption (the cursor stays where the last page left
    it; the next run resumes there)."""
    with database.transaction() as session:
        session.execute(
            update(SyncLink)
            .where(SyncLink.id == link, SyncLink.runner == token)
            .values(runner=None, running_until=None)
            .execution_options(synchronize_session=False)
        )
