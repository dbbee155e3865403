"""Long-running loops of a serving node: event delivery, sync with partners' TAXII collections,
and the NATS relay when configured.

They run as asyncio tasks beside the web server (``watchkeeper serve``); the blocking database
work goes to worker threads. A stop event ends them between two passes, so a SIGTERM never cuts
a delivery transaction in half.

The sync loop runs due links every few seconds, and at once when the event log says
intelligence was stored: the ``sync-wake`` subscriber makes healthy push links due in its
delivery transaction (:func:`~watchkeeper.federation.wake_push_links`) and, once that commits,
wakes the loop, so new objects reach subscribed peers within about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import anyio
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

from watchkeeper.bus import Event, ensure_stream, relay_once
from watchkeeper.config import mask_url
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
from watchkeeper.security import SecretBox

log = logging.getLogger(__name__)
SYNC_POLL_SECONDS = 5.0


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


async def run_workers(node: Node, stop: asyncio.Event) -> None:
    """Run every loop the node's settings call for until ``stop`` is set."""
    waker = SyncWake(node, asyncio.get_running_loop())
    node.dispatcher.subscribe(WAKE_SUBSCRIBER, waker, types=WAKE_EVENTS)
    loops = [dispatch_loop(node, stop), sync_loop(node, stop, waker.event)]
    if node.settings.nats_url:
        loops.append(relay_loop(node, stop))
    try:
        await asyncio.gather(*loops)
    finally:
        node.dispatcher.unsubscribe(WAKE_SUBSCRIBER)
