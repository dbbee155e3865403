"""Long-running loops of a serving node: event delivery, sync with partners' TAXII collections,
the playbook runner, the hourly anchoring of the evidence ledger in the audit ledger, the
delivery of cooperation messages with their deadline alarms, and the NATS relay when
configured.

They run as asyncio tasks beside the web server (``watchkeeper serve``); the blocking database
work goes to worker threads. A stop event ends them between two passes, so a SIGTERM never cuts
a delivery transaction in half.

The sync loop runs due links every few seconds, and at once when the event log says
intelligence was stored: the ``sync-wake`` subscriber makes healthy push links due in its
delivery transaction (:func:`~watchkeeper.federation.wake_push_links`) and, once that commits,
wakes the loop, so new objects reach subscribed peers within about a second.

The playbook loop advances due runs and runs the watchdog every ``respond_runner_poll_seconds``,
and at once when the ``playbook-triggers`` subscriber has started runs (it wakes the loop after
its delivery commits), so an event's first action follows it within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from functools import partial

import anyio
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

from watchkeeper.bus import Event, ensure_stream, relay_once
from watchkeeper.config import mask_url
from watchkeeper.cooperation import accept_results, deliver_due, run_deadlines
from watchkeeper.cooperation.drafts import register as register_drafts
from watchkeeper.errors import NotFound, WatchkeeperError
from watchkeeper.evidence.custody import anchor_if_changed
from watchkeeper.federation import (
    WAKE_EVENTS,
    WAKE_SUBSCRIBER,
    SyncPolicy,
    SyncRun,
    request_signer,
    run_due_links,
    wake_push_links,
)
from watchkeeper.node import Node
from watchkeeper.respond.escalations import register as register_escalations
from watchkeeper.respond.playbook_store import sync_playbooks, user_playbook_dir
from watchkeeper.respond.runner import run_due
from watchkeeper.respond.triggers import TRIGGER_SUBSCRIBER
from watchkeeper.respond.triggers import register as register_triggers
from watchkeeper.respond.watchdog import run_watchdog
from watchkeeper.security import SecretBox

log = logging.getLogger(__name__)
SYNC_POLL_SECONDS = 5.0
COOPERATION_DEADLINE_SECONDS = 60.0


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def dispatch_loop(node: Node, stop: asyncio.Event) -> None:
    """Deliver events to subscribers until ``stop`` is set."""
    while not stop.is_set():
        try:
            report = await anyio.to_thread.run_sync(node.dispatcher.run_once)
        except Exception:
            log.exception("event dispatch pass failed; retrying")
            report = None
        if report is None or not (report.delivered or report.replayed):
            await _pause(stop, node.settings.bus_poll_seconds)


class SyncWake:
    """The ``sync-wake`` subscriber of one serving process: makes push links due when
    intelligence is stored, then wakes this process's sync loop (from the dispatcher's
    thread, once the delivery committed: the loop then finds the links due)."""

    def __init__(self, node: Node, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self.loop = loop
        self.event = asyncio.Event()

    def __call__(self, session: Session, event: Event) -> None:
        """Handle one event inside the dispatcher's delivery transaction."""
        if wake_push_links(session, now=self.node.clock.now()):
            orm_event.listen(session, "after_commit", self._after_commit, once=True)

    def _after_commit(self, session: Session) -> None:
        self.loop.call_soon_threadsafe(self.event.set)


async def _pause_or_wake(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or until ``stop`` or ``wake`` is set."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def sync_loop(node: Node, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
    """Run the sync links that are due (scheduled pulls and pushes, retries after back-off)
    until ``stop`` is set; a run in progress ends at its next page boundary, cursor saved.
    ``wake`` (set by :class:`SyncWake`) starts the next pass at once."""
    policy = SyncPolicy.from_settings(node.settings)
    box = SecretBox(node.data_dir)
    wake = wake or asyncio.Event()

    def run_pass() -> list[SyncRun]:
        # The key is read at every pass: keys created or replaced (node init) while the node
        # serves sign from the next pass on.
        signer = request_signer(node.data_dir, clock=node.clock)
        return run_due_links(
            node.database, clock=node.clock, box=box, policy=policy, stop=stop.is_set,
            signer=signer,
        )  # fmt: skip

    while not stop.is_set():
        wake.clear()
        try:
            runs = await anyio.to_thread.run_sync(run_pass)
        except Exception:
            log.exception("sync pass failed; retrying")
            runs = []
        for run in runs:
            if not run.ok:
                log.warning("sync %s %s with %s failed: %s", run.direction, run.link, run.peer,
                            run.error)  # fmt: skip
        if not any(run.more for run in runs):
            await _pause_or_wake(stop, wake, SYNC_POLL_SECONDS)


async def playbook_loop(node: Node, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
    """Advance due playbook runs and run the watchdog until ``stop`` is set; ``wake`` (set when
    triggers start runs) starts the next pass at once."""
    wake = wake or asyncio.Event()

    def run_pass() -> int:
        run_watchdog(node=node)
        report = run_due(node=node, limit=200)
        return report.claimed

    while not stop.is_set():
        wake.clear()
        try:
            claimed = await anyio.to_thread.run_sync(run_pass)
        except Exception:
            log.exception("playbook runner pass failed; retrying")
            claimed = 0
        if claimed < 200:  # a full batch means more are due: go on at once
            await _pause_or_wake(stop, wake, node.settings.respond_runner_poll_seconds)


async def relay_loop(node: Node, stop: asyncio.Event) -> None:
    """Publish the event log to NATS JetStream until ``stop`` is set (reconnects on failure)."""
    import nats

    url = node.settings.nats_url
    assert url is not None
    while not stop.is_set():
        try:
            client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=-1)
            try:
                jetstream = client.jetstream()
                prefix = node.settings.nats_subject
                await ensure_stream(jetstream, stream=node.settings.nats_stream, prefix=prefix)
                log.info("relaying the event log to %s", mask_url(url))
                while not stop.is_set():
                    sent = await relay_once(node.database, jetstream, prefix=prefix)
                    if not sent:
                        await _pause(stop, node.settings.bus_poll_seconds)
            finally:
                await client.close()
        except Exception as exc:
            log.warning("NATS relay to %s failed (%s); retrying in 5 s", mask_url(url), exc)
            await _pause(stop, 5.0)


ANCHOR_SECONDS = 3600.0


def anchor_evidence(node: Node) -> None:
    """Anchor the evidence ledger's head into the audit ledger when it moved."""
    with node.database.transaction() as session:
        anchor_if_changed(session, clock=node.clock, actor="system:evidence-anchor")


async def anchor_loop(node: Node, stop: asyncio.Event) -> None:
    """Anchor the evidence ledger every ``ANCHOR_SECONDS`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await anyio.to_thread.run_sync(anchor_evidence, node)
        except Exception:
            log.exception("evidence ledger anchoring failed; retrying")
        await _pause(stop, ANCHOR_SECONDS)


def cooperation_pass(node: Node, *, deadlines: bool) -> int:
    """One pass of cooperation work: deliver due messages, register received result
    packages and, when asked, raise deadline alarms; how many messages were delivered.
    A node without keys (``node init`` not run) has no partner to write to: only the
    deadlines are checked."""
    delivered = 0
    try:
        node.identity()
    except NotFound:
        keyed = False
    else:
        keyed = True
    if keyed:
        report = deliver_due(node)
        for error in report.errors:
            log.warning("cooperation message not delivered: %s", error)
        accept_results(node)
        delivered = report.delivered
    if deadlines:
        run_deadlines(node)
    return delivered


async def cooperation_loop(node: Node, stop: asyncio.Event) -> None:
    """Deliver cooperation messages every ``cooperation_poll_seconds`` (a cheap indexed query
    when nothing is due) and check deadlines every ``COOPERATION_DEADLINE_SECONDS``; after a
    failed pass, wait longer each time (up to a minute) rather than log it ten times a
    second."""
    last_scan = 0.0
    failures = 0
    while not stop.is_set():
        now = time.monotonic()
        scan = now - last_scan >= COOPERATION_DEADLINE_SECONDS
        try:
            await anyio.to_thread.run_sync(partial(cooperation_pass, node, deadlines=scan))
        except Exception:
            failures += 1
            log.exception("cooperation pass failed (%d in a row); retrying", failures)
        else:
            failures = 0
        if scan:
            last_scan = now
        poll = node.settings.cooperation_poll_seconds
        await _pause(stop, min(60.0, poll * 2**failures) if failures else poll)


def load_playbooks_at_start(node: Node) -> None:
    """Store the built-in playbooks and those of data_dir/playbooks (new texts as versions), so
    triggers find them; a broken file is logged and skipped, never fatal."""
    try:
        with node.database.transaction() as session:
            report = sync_playbooks(
                session, clock=node.clock, actor="system:start",
                paths=[user_playbook_dir(node.data_dir)],
            )  # fmt: skip
    except WatchkeeperError as exc:  # the node still serves; triggers use what is stored
        log.warning("playbooks not loaded at start: %s", exc)
        return
    for error in report.errors:
        log.warning("playbook not loaded: %s", error.message)


async def run_workers(node: Node, stop: asyncio.Event) -> None:
    """Run every loop the node's settings call for until ``stop`` is set."""
    register_escalations(node)  # idempotent: create_app registers it too
    register_drafts(node)  # cooperation drafts asked for by playbooks
    await anyio.to_thread.run_sync(load_playbooks_at_start, node)
    loop = asyncio.get_running_loop()
    waker = SyncWake(node, loop)
    node.dispatcher.subscribe(WAKE_SUBSCRIBER, waker, types=WAKE_EVENTS)
    playbook_wake = asyncio.Event()

    def wake_playbooks() -> None:
        loop.call_soon_threadsafe(playbook_wake.set)

    register_triggers(node, on_start=wake_playbooks)
    loops = [
        dispatch_loop(node, stop),
        sync_loop(node, stop, waker.event),
        playbook_loop(node, stop, playbook_wake),
        anchor_loop(node, stop),
        cooperation_loop(node, stop),
    ]
    if node.settings.nats_url:
        loops.append(relay_loop(node, stop))
    try:
        await asyncio.gather(*loops)
    finally:
        node.dispatcher.unsubscribe(WAKE_SUBSCRIBER)
        node.dispatcher.unsubscribe(TRIGGER_SUBSCRIBER)
