"""Long-running loops of a serving node: event delivery, sync with partners' TAXII collections,
and the NATS relay when configured.

They run as asyncio tasks beside the web server (``watchkeeper serve``); the blocking database
work goes to worker threads. A stop event ends them between two passes, so a SIGTERM never cuts
a delivery transaction in half.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

import anyio

from watchkeeper.bus import ensure_stream, relay_once
from watchkeeper.config import mask_url
from watchkeeper.federation import SyncPolicy, run_due_links
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


async def sync_loop(node: Node, stop: asyncio.Event) -> None:
    """Run the sync links that are due (scheduled pulls and pushes, retries after back-off)
    until ``stop`` is set; a run in progress ends at its next page boundary, cursor saved."""
    policy = SyncPolicy.from_settings(node.settings)
    box = SecretBox(node.data_dir)
    run_pass = functools.partial(
        run_due_links, node.database, clock=node.clock, box=box, policy=policy, stop=stop.is_set
    )
    while not stop.is_set():
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
            await _pause(stop, SYNC_POLL_SECONDS)


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
    loops = [dispatch_loop(node, stop), sync_loop(node, stop)]
    if node.settings.nats_url:
        loops.append(relay_loop(node, stop))
    await asyncio.gather(*loops)
