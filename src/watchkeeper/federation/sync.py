"""Running sync links: pulling from and pushing to partners' TAXII 2.1 collections.

A run is resumable at every page: :mod:`.sync_pull` stores a page and only then moves the
cursor, :mod:`.sync_push` moves it once the partner accepted a page, and :mod:`.sync_runs`
holds the run's lease on the link, so two processes never run one link at once. This module
runs links: a person's ``sync pull``/``push`` (at once, whatever the back-off), and the
scheduler's pass over the links that are due.

Pushes follow the event log. :func:`wake_push_links` is the handler of the ``sync-wake``
subscriber that ``watchkeeper serve`` registers for the events that store intelligence
(:data:`WAKE_EVENTS`): in the delivery's transaction it makes every healthy push link due at
once, and the serving process then wakes its sync loop, so objects reach subscribed peers
within about a second of the import's commit instead of at the next scheduled run. Links
that are failing keep their back-off. Scaled out, the subscriber's cursor is shared: the
process that delivers the event wakes at once, and the others find the links due at their
next pass.

Requests to partner nodes are signed with this node's key (:func:`request_signer`, headers
of :mod:`watchkeeper.security.signatures`), so a partner can tell this node's requests from
a leaked token's and refuse replays; third-party TAXII servers ignore the headers.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import InvalidInput, NotFound, WatchkeeperError
from watchkeeper.federation.models import SyncLink
from watchkeeper.federation.sync_links import PULL, PUSH, SyncPolicy, get_link, link_credentials
from watchkeeper.federation.sync_pull import pull
from watchkeeper.federation.sync_push import push
from watchkeeper.federation.sync_runs import (
    LeaseLost,
    Stop,
    SyncRun,
    advance,
    claim,
    finish,
    release,
    rows_of,
)
from watchkeeper.federation.taxii_client import Signer, TaxiiClient
from watchkeeper.security import SecretBox, load_identity, load_signing_key, sign_request
from watchkeeper.store import Database

log = logging.getLogger(__name__)
SYNC_ACTOR = "worker:sync"
"""The actor of scheduled runs (a person running a link is named as the actor instead)."""
WAKE_SUBSCRIBER = "sync-wake"
"""The event-log subscriber that makes push links due when intelligence is stored."""
WAKE_EVENTS = ("intel.import", "intel.sighting", "intel.false_positive")
"""Events of changes to stored intelligence (new objects or versions) that a push sends."""


def request_signer(data_dir: Path, *, clock: Clock) -> Signer | None:
    """Signs this node's requests to partners with its Ed25519 key (the code from its
    identity); None before ``watchkeeper node init`` (requests then go unsigned, and partner
    nodes that require signatures refuse writes with a message saying so)."""
    try:
        identity = load_identity(data_dir)
        key = load_signing_key(data_dir)
    except NotFound:
        return None

    def sign(method: str, target: str, body: bytes) -> dict[str, str]:
        return sign_request(
            key, node=identity.code, method=method, target=target, body=body, clock=clock
        )

    return sign


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
    signer: Signer | None = None,
) -> SyncRun | None:
    """Run one link now (a person's ``sync pull``/``push``: backoff does not hold it back).

    With ``due_only`` (the scheduler) a link that is not due, or is being run elsewhere, is
    left alone (None). Failures of the partner or of the data are recorded on the link and
    in the returned run, not raised; ``Conflict`` if a person asks for a disabled link or
    one another process is running. ``stop`` is asked between pages: a run it ends keeps its
    cursor and is due again at once. ``signer`` signs every request as this node (see
    :func:`request_signer`).
    """
    claimed = claim(database, clock=clock, link=link, policy=policy, due_only=due_only)
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
        advance(
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
                credentials=credentials,
                timeout=policy.timeout,
                transport=transport,
                signer=signer,
            ) as client:
                if snapshot.direction == PULL:
                    pull(
                        database, clock=clock, actor=actor, link=snapshot, client=client,
                        policy=policy, run=run, save=save, stop=stop or _never,
                    )  # fmt: skip
                else:
                    push(
                        database, actor=actor, link=snapshot, client=client, policy=policy,
                        run=run, save=save, stop=stop or _never,
                    )  # fmt: skip
        except LeaseLost:
            run.ok = False
            run.error = "the link was removed, or taken over by another process; this run stopped"
            settled = True
            return run
        except WatchkeeperError as exc:
            run.ok, run.error = False, exc.message
        except Exception as exc:  # anything else still ends as a recorded failure
            log.exception("sync link %s failed unexpectedly", snapshot.id)
            run.ok, run.error = False, f"internal error: {type(exc).__name__}: {exc}"
        finish(
            database, clock=clock, actor=actor, token=token, run=run, policy=policy,
            scheduled=due_only,
        )  # fmt: skip
        settled = True
    finally:
        if not settled:
            with contextlib.suppress(Exception):
                release(database, link=snapshot.id, token=token)
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


def _run_now(
    database: Database,
    *,
    direction: str,
    clock: Clock,
    actor: str,
    link: str,
    box: SecretBox,
    policy: SyncPolicy,
    transport: httpx.BaseTransport | None,
    signer: Signer | None,
) -> SyncRun:
    found = _checked(database, link=link, direction=direction)
    run = run_link(
        database, clock=clock, actor=actor, link=found, box=box, policy=policy,
        transport=transport, signer=signer,
    )  # fmt: skip
    assert run is not None  # a person's run is never skipped
    return run


def pull_link(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    link: str,
    box: SecretBox,
    policy: SyncPolicy,
    transport: httpx.BaseTransport | None = None,
    signer: Signer | None = None,
) -> SyncRun:
    """Pull now from the partner collection of ``link`` (see :func:`run_link`)."""
    return _run_now(
        database, direction=PULL, clock=clock, actor=actor, link=link, box=box, policy=policy,
        transport=transport, signer=signer,
    )  # fmt: skip


def push_link(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    link: str,
    box: SecretBox,
    policy: SyncPolicy,
    transport: httpx.BaseTransport | None = None,
    signer: Signer | None = None,
) -> SyncRun:
    """Push the local collection of ``link`` to the partner now (see :func:`run_link`)."""
    return _run_now(
        database, direction=PUSH, clock=clock, actor=actor, link=link, box=box, policy=policy,
        transport=transport, signer=signer,
    )  # fmt: skip


def wake_push_links(session: Session, *, now: datetime) -> int:
    """Make every enabled push link that is not failing due at ``now``; how many there are.

    The handler of the ``sync-wake`` subscriber (intelligence was stored): new objects go to
    subscribed peers at once instead of at the next scheduled run, while a failing link keeps
    waiting out its back-off. A link running now is marked too: its run may have read the
    collection before the new objects committed, so it runs again when it ends.
    """
    woken = session.execute(
        update(SyncLink)
        .where(SyncLink.direction == PUSH, SyncLink.enabled.is_(True), SyncLink.failures == 0)
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_of(woken)


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
    signer: Signer | None = None,
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
                due_only=True, transport=transport, stop=stop, signer=signer,
            )  # fmt: skip
        except NotFound:
            continue  # removed since the list was read
        if run is not None:
            runs.append(run)
    return runs
