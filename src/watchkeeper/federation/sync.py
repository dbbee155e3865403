"""Running sync links: pulling from and pushing to partners' TAXII 2.1 collections.

A run is resumable at every page. A **pull** asks for the objects added after the cursor's
``added_after`` and follows the server's ``next`` token; each page is stored through
:func:`~watchkeeper.federation.receive` (a delivery of the peer, in the peer's community,
re-sharable as its settings say) and only then does the cursor move, so a run that dies
resumes at the page it was on: nothing is lost, and a page stored twice is reported
"unchanged" by the idempotent import. Mid-run the cursor holds the ``next`` token and keeps
the ``added_after`` its query began with (a server only honours ``next`` with the same
filters); a server that forgot the token (expired, restarted) gets the query again from
``added_after``. At the end of a run ``added_after`` becomes the newest ``date_added``
received. Servers that page by ``added_after`` alone (no ``next``) are followed through the
``X-TAXII-Date-Added-Last`` header.

A **push** sends the current versions of a local collection that the sharing policy lets
the peer have (TLP:RED never; the same query as the peer reading the collection over TAXII),
after the cursor's ``seq``, one page per POST, leaving out what the peer itself delivered.
The cursor moves once the server accepted the page; objects its status resource reports as
failed are kept in the run's report and audit entry (re-sending them would fail the same
way). Every page sent is audited (``sync.sent``): data leaving the node is on record.

Only one process runs a link at a time: a run takes a lease on it (``runner``,
``running_until``), renews it with every page and checks it when saving the cursor, so a
worker of a scaled-out node never runs a link another worker is running. A failed run adds
one to ``failures``, keeps the error and backs off (:meth:`SyncPolicy.retry_delay`); a
successful one clears them. Runs that moved data, failed, or ended a series of failures are
audited and evented (``sync.pull``, ``sync.push``, ``sync.failed``); an idle scheduled run
that found nothing new only updates the link's timestamps.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import ColumnElement, CursorResult, or_, select, update
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, InvalidInput, NotFound, RemoteError, WatchkeeperError
from watchkeeper.federation.collections import collection_objects
from watchkeeper.federation.models import SyncLink
from watchkeeper.federation.receipts import items_reader, receive
from watchkeeper.federation.sync_links import (
    PULL,
    PUSH,
    SyncPolicy,
    get_link,
    link_credentials,
    not_delivered_by,
)
from watchkeeper.federation.taxii_client import KEPT_DETAILS, AddStatus, TaxiiClient, later
from watchkeeper.intel import ImportReport
from watchkeeper.security import SecretBox, record_change
from watchkeeper.store import Database

log = logging.getLogger(__name__)
SYNC_ACTOR = "worker:sync"
"""The actor of scheduled runs (a person running a link is named as the actor instead)."""
FORGOTTEN_NEXT = (400, 404, 410)
Stop = Callable[[], bool]


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
class _Snapshot:
    """The link as a run starts (read once; the run only writes its cursor and state)."""

    id: str
    peer: str
    direction: str
    url: str
    collection: str | None
    cursor: dict[str, Any]


class _LeaseLost(Exception):
    """The link is no longer this run's: removed, or taken over by another process after
    this run's lease ran out."""


def _rows(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _claim(
    database: Database, *, clock: Clock, link: str, policy: SyncPolicy, due_only: bool
) -> tuple[str, _Snapshot] | None:
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
        if _rows(claimed) != 1:
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
        snapshot = _Snapshot(
            id=row.id,
            peer=row.peer,
            direction=row.direction,
            url=row.collection_url,
            collection=row.local_collection,
            cursor=dict(row.cursor or {}),
        )
    return token, snapshot


def _advance(
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
        if _rows(saved) != 1:
            raise _LeaseLost(link)
        if audit is not None:
            actor, action, detail = audit
            record_change(
                session, clock=clock, actor=actor, action=action, subject=f"sync:{link}",
                detail=detail,
            )  # fmt: skip


def _finish(
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
        if run.ok:
            row.failures, row.last_error, row.last_success_at = 0, None, now
            row.next_attempt_at = now if run.more else now + policy.interval
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


def _release(database: Database, *, link: str, token: str) -> None:
    """Give the lease back after an interruption (the cursor stays where the last page left
    it; the next run resumes there)."""
    with database.transaction() as session:
        session.execute(
            update(SyncLink)
            .where(SyncLink.id == link, SyncLink.runner == token)
            .values(runner=None, running_until=None)
            .execution_options(synchronize_session=False)
        )


# --- pull -----------------------------------------------------------------------------------


def _pull(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    link: _Snapshot,
    client: TaxiiClient,
    policy: SyncPolicy,
    run: SyncRun,
    save: Callable[[dict[str, Any]], None],
    stop: Stop,
) -> None:
    cursor = dict(link.cursor)
    while True:
        if run.pages >= policy.max_pages or stop():
            run.more = True
            return
        try:
            page = client.get_objects(
                link.url,
                added_after=cursor.get("added_after"),
                next_token=cursor.get("next"),
                limit=policy.page_size,
            )
        except RemoteError as exc:
            if cursor.get("next") and exc.fields.get("http_status") in FORGOTTEN_NEXT:
                log.info("%s forgot its paging token; asking again from added_after", link.url)
                cursor = {k: v for k, v in cursor.items() if k != "next"}
                save(cursor)
                continue
            raise
        run.pages += 1
        if page.objects:
            report = receive(
                database,
                clock=clock,
                actor=actor,
                peer=link.peer,
                reader=items_reader(page.objects, name=f"{link.url}objects/"),
                format="taxii",
            )
            run.add_import(report, received=len(page.objects))
        seen = later(cursor.get("seen"), page.added_last)
        if page.more and page.next:
            cursor = {"added_after": cursor.get("added_after"), "next": page.next, "seen": seen}
        elif page.more and page.added_last and page.added_last != cursor.get("added_after"):
            cursor = {"added_after": page.added_last}  # a server that pages by date_added
        elif page.more and page.objects:
            raise RemoteError(
                f"{link.url}: the server says there is more but gives neither a next token "
                "nor X-TAXII-Date-Added-Last to go on from",
                url=link.url,
            )
        else:
            cursor = {"added_after": later(cursor.get("added_after"), seen)}
        cursor = {k: v for k, v in cursor.items() if v is not None}
        save(cursor)
        run.cursor = cursor
        if not page.more or not page.objects:
            return


# --- push -----------------------------------------------------------------------------------


def _push(
    database: Database,
    *,
    actor: str,
    link: _Snapshot,
    client: TaxiiClient,
    policy: SyncPolicy,
    run: SyncRun,
    save: Callable[..., None],
    stop: Stop,
) -> None:
    if link.collection is None:
        raise InvalidInput("this push link names no local collection", field="collection")
    cursor = dict(link.cursor)
    while True:
        if run.pages >= policy.max_pages or stop():
            run.more = True
            return
        after = cursor.get("seq")
        with database.reader() as session:
            rows = collection_objects(
                session,
                collection=link.collection,
                peer=link.peer,
                after_seq=after if isinstance(after, int) else None,
                limit=policy.page_size,
                current_only=True,
                where=[not_delivered_by(link.peer)],
            )
        if not rows:
            return
        status = client.add_objects(link.url, [row.doc for row in rows])
        if status.status == "pending" and status.pending:
            status = client.wait_status(link.url, status, seconds=policy.timeout)
        run.pages += 1
        run.add_status(status, sent=len(rows))
        cursor = {"seq": rows[-1].seq}
        detail = {
            "peer": link.peer,
            "url": link.url,
            "collection": link.collection,
            "objects": len(rows),
            "from_seq": rows[0].seq,
            "to_seq": rows[-1].seq,
            "status": status.document(),
        }
        save(cursor, audit=(actor, "sync.sent", detail))
        run.cursor = cursor
        if len(rows) < policy.page_size:
            return


# --- running links --------------------------------------------------------------------------


def run_link(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    link: str,
    box: SecretBox,
    policy: SyncPolicy,
    due_only: bool = False,
    transport: httpx.BaseTransport | None = None,
    stop: Stop | None = None,
) -> SyncRun | None:
    """Run one link now (a person's ``sync pull``/``push``: backoff does not hold it back).

    With ``due_only`` (the scheduler) a link that is not due, or is being run elsewhere, is
    left alone (None). Failures of the partner or of the data are recorded on the link and
    in the returned run, not raised; ``Conflict`` if a person asks for a disabled link or
    one another process is running. ``stop`` is asked between pages: a run it ends keeps its
    cursor and is due again at once.
    """
    claimed = _claim(database, clock=clock, link=link, policy=policy, due_only=due_only)
    if claimed is None:
        return None
    token, snapshot = claimed
    run = SyncRun(
        link=snapshot.id,
        peer=snapshot.peer,
        direction=snapshot.direction,
        url=snapshot.url,
        started_at=clock.now(),
        cursor=snapshot.cursor,
    )

    def save(cursor: dict[str, Any], audit: tuple[str, str, dict[str, Any]] | None = None) -> None:
        _advance(
            database, clock=clock, link=snapshot.id, token=token, cursor=cursor,
            policy=policy, audit=audit,
        )  # fmt: skip

    settled = False
    try:
        try:
            with database.reader() as session:
                row = session.get(SyncLink, snapshot.id)
                if row is None:
                    raise NotFound(f"sync link {snapshot.id} was removed", link=snapshot.id)
                credentials = link_credentials(row, box=box)
            with TaxiiClient(
                credentials=credentials, timeout=policy.timeout, transport=transport
            ) as client:
                if snapshot.direction == PULL:
                    _pull(
                        database, clock=clock, actor=actor, link=snapshot, client=client,
                        policy=policy, run=run, save=save, stop=stop or _never,
                    )  # fmt: skip
                else:
                    _push(
                        database, actor=actor, link=snapshot, client=client, policy=policy,
                        run=run, save=save, stop=stop or _never,
                    )  # fmt: skip
        except _LeaseLost:
            run.ok = False
            run.error = "the link was removed, or taken over by another process; this run stopped"
            settled = True
            return run
        except WatchkeeperError as exc:
            run.ok, run.error = False, exc.message
        except Exception as exc:  # anything else still ends as a recorded failure
            log.exception("sync link %s failed unexpectedly", snapshot.id)
            run.ok, run.error = False, f"internal error: {type(exc).__name__}: {exc}"
        _finish(
            database, clock=clock, actor=actor, token=token, run=run, policy=policy,
            scheduled=due_only,
        )  # fmt: skip
        settled = True
    finally:
        if not settled:
            with contextlib.suppress(Exception):
                _release(database, link=snapshot.id, token=token)
    return run


def _never() -> bool:
    return False


def _checked(database: Database, *, link: str, direction: str) -> str:
    """The id of ``link``, which must be a ``direction`` link (``InvalidInput`` otherwise)."""
    with database.reader() as session:
        row = get_link(session, link)
        if row.direction != direction:
            raise InvalidInput(
                f"sync link {row.id} is a {row.direction} link, not a {direction} link",
                field="link",
            )
        return row.id


def pull_link(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    link: str,
    box: SecretBox,
    policy: SyncPolicy,
    transport: httpx.BaseTransport | None = None,
) -> SyncRun:
    """Pull now from the partner collection of ``link`` (see :func:`run_link`)."""
    found = _checked(database, link=link, direction=PULL)
    run = run_link(
        database, clock=clock, actor=actor, link=found, box=box, policy=policy,
        transport=transport,
    )  # fmt: skip
    assert run is not None  # a person's run is never skipped
    return run


def push_link(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    link: str,
    box: SecretBox,
    policy: SyncPolicy,
    transport: httpx.BaseTransport | None = None,
) -> SyncRun:
    """Push the local collection of ``link`` to the partner now (see :func:`run_link`)."""
    found = _checked(database, link=link, direction=PUSH)
    run = run_link(
        database, clock=clock, actor=actor, link=found, box=box, policy=policy,
        transport=transport,
    )  # fmt: skip
    assert run is not None  # a person's run is never skipped
    return run


def due_links(session: Session, *, now: datetime) -> list[str]:
    """Ids of the enabled links whose next attempt has come and that nobody is running."""
    return list(
        session.scalars(
            select(SyncLink.id)
            .where(
                SyncLink.enabled.is_(True),
                or_(SyncLink.next_attempt_at.is_(None), SyncLink.next_attempt_at <= now),
                or_(SyncLink.running_until.is_(None), SyncLink.running_until <= now),
            )
            .order_by(SyncLink.next_attempt_at, SyncLink.id)
        )
    )


def run_due_links(
    database: Database,
    *,
    clock: Clock,
    box: SecretBox,
    policy: SyncPolicy,
    actor: str = SYNC_ACTOR,
    transport: httpx.BaseTransport | None = None,
    stop: Stop | None = None,
) -> list[SyncRun]:
    """Run every link that is due, one after the other: the scheduler's pass.

    Links another process claimed in the meantime are skipped. One failing partner costs
    one request timeout per pass at most, and then waits out its back-off.
    """
    with database.reader() as session:
        due = due_links(session, now=clock.now())
    runs: list[SyncRun] = []
    for link in due:
        if stop is not None and stop():
            break
        try:
            run = run_link(
                database, clock=clock, actor=actor, link=link, box=box, policy=policy,
                due_only=True, transport=transport, stop=stop,
            )  # fmt: skip
        except NotFound:
            continue  # removed since the list was read
        if run is not None:
            runs.append(run)
    return runs
