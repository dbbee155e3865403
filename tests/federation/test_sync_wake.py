"""Event-driven pushes: storing intelligence makes healthy push links due at once (failing
ones keep their back-off), a push woken while it runs runs again, and a serving node's
workers push an import to the partner without waiting for the schedule."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sharing_samples import GREEN, indicator
from sharing_samples import register as register_peer
from sqlalchemy import update

from taxii_partner import PASSWORD, USER, Partner, medallion
from watchkeeper import workers
from watchkeeper.core import FixedClock
from watchkeeper.federation import (
    Credentials,
    SyncLink,
    SyncPolicy,
    add_collection,
    add_link,
    due_links,
    items_reader,
    run_link,
    set_rights,
    wake_push_links,
)
from watchkeeper.intel import run_import
from watchkeeper.node import Node
from watchkeeper.security import SecretBox

PEER = "AE-TDRA"
URL = "https://partner.example/api/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/"
CREDENTIALS = Credentials(scheme="basic", secret=PASSWORD, user=USER)


@pytest.fixture
def box(node: Node) -> SecretBox:
    node.init_identity(actor="test", code="QA-NCSA", name="Qatar NCSA", country="QA")
    register_peer(node, PEER, community="regional", max_tlp="amber", need_to_know=True)
    return SecretBox(node.data_dir)


def _collection(node: Node) -> str:
    with node.database.transaction() as session:
        found = add_collection(session, clock=node.clock, actor="test", title="Shared")
        set_rights(session, clock=node.clock, actor="test", peer=PEER, read=[found.id])
        return found.id


def _link(node: Node, box: SecretBox, direction: str, url: str, collection: str | None) -> str:
    with node.database.transaction() as session:
        return add_link(
            session, clock=node.clock, actor="test", peer=PEER, direction=direction, url=url,
            collection=collection, credentials=CREDENTIALS, box=box,
        ).id  # fmt: skip


def _set(node: Node, link: str, **values: Any) -> None:
    with node.database.transaction() as session:
        session.execute(update(SyncLink).where(SyncLink.id == link).values(**values))


def _row(node: Node, link: str) -> SyncLink:
    with node.database.reader() as session:
        row = session.get_one(SyncLink, link)
        session.expunge(row)
        return row


def _import(node: Node, *objects: dict[str, Any]) -> None:
    report = run_import(
        node.database, clock=node.clock, actor="test", source="feed:test", format="stix",
        reader=items_reader(list(objects), name="test"),
    )  # fmt: skip
    assert report.rejected == 0, report.document()


def test_waking_makes_healthy_push_links_due_and_keeps_back_off(node: Node, box: SecretBox) -> None:
    collection = _collection(node)
    healthy = _link(node, box, "push", URL, collection)
    failing = _link(node, box, "push", URL.replace("partner.", "other."), collection)
    pulled = _link(node, box, "pull", URL, None)
    later = node.clock.now() + timedelta(minutes=5)
    for link in (healthy, failing, pulled):
        _set(node, link, next_attempt_at=later)
    _set(node, failing, failures=3)
    with node.database.reader() as session:
        assert due_links(session, now=node.clock.now()) == []
    with node.database.transaction() as session:
        assert wake_push_links(session, now=node.clock.now()) == 1
    with node.database.reader() as session:
        assert due_links(session, now=node.clock.now()) == [healthy]
    assert _row(node, failing).next_attempt_at == later  # still backing off


def _partner_answers(on_post: Any) -> httpx.MockTransport:
    """A TAXII server that accepts every add (and calls ``on_post`` while it does)."""

    def handle(request: httpx.Request) -> httpx.Response:
        sent = orjson.loads(request.content)["objects"]
        on_post()
        status = {
            "id": "2d086da7-4bdc-4f91-900e-d77486753710",
            "status": "complete",
            "total_count": len(sent),
            "success_count": len(sent),
            "failure_count": 0,
            "pending_count": 0,
        }
        return httpx.Response(202, json=status)

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("woken", [False, True], ids=["idle", "woken-mid-run"])
def test_a_push_woken_while_it_runs_runs_again(node: Node, box: SecretBox, woken: bool) -> None:
    collection = _collection(node)
    link = _link(node, box, "push", URL, collection)
    _import(node, indicator(1, markings=[GREEN]))
    assert isinstance(node.clock, FixedClock)
    fixed = node.clock

    def during_the_post() -> None:
        fixed.advance(timedelta(seconds=1))
        if woken:  # an import committed while the page was on its way
            with node.database.transaction() as session:
                wake_push_links(session, now=fixed.now())
        fixed.advance(timedelta(seconds=1))

    policy = SyncPolicy()
    run = run_link(
        node.database, clock=node.clock, actor="test", link=link, box=box, policy=policy,
        due_only=True, transport=_partner_answers(during_the_post),
    )  # fmt: skip
    assert run is not None and run.ok and run.succeeded == 1
    expected = node.clock.now() if woken else node.clock.now() + policy.interval
    assert _row(node, link).next_attempt_at == expected


@pytest.fixture
def partner(tmp_path: Path) -> Iterator[Partner]:
    with medallion(tmp_path / "partner", []) as server:
        yield server


def test_serve_workers_push_an_import_at_once(
    node: Node, box: SecretBox, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scheduler would only look again after a minute: what arrives sooner was pushed
    # because the import's event woke the link.
    monkeypatch.setattr(workers, "SYNC_POLL_SECONDS", 60.0)
    link = _link(node, box, "push", partner.collection_url, _collection(node))
    _import(node, indicator(1, markings=[GREEN]))

    async def serve_briefly() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(workers.run_workers(node, stop))
        try:
            while _row(node, link).last_success_at is None:  # the first, scheduled run
                await asyncio.sleep(0.05)
            first = await asyncio.to_thread(partner.objects)
            assert {o["id"] for o in first} == {indicator(1)["id"]}
            started = time.monotonic()
            await asyncio.to_thread(_import, node, indicator(2, markings=[GREEN]))
            while indicator(2)["id"] not in {
                o["id"] for o in await asyncio.to_thread(partner.objects)
            }:
                assert time.monotonic() - started < 15, "the import was not pushed"
                await asyncio.sleep(0.05)
            return time.monotonic() - started
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)

    took = asyncio.run(asyncio.wait_for(serve_briefly(), timeout=60))
    assert took < 15
    names = [subscriber.name for subscriber in node.dispatcher.subscribers]
    assert "sync-wake" not in names and "playbook-triggers" not in names  # left with serve
