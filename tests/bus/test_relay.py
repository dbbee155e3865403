"""The event log relayed to a real NATS JetStream server: in order, once, resumable."""

from __future__ import annotations

import asyncio
import uuid

import nats
import orjson
from sqlalchemy import update

from watchkeeper.bus import SubscriberCursor, emit, ensure_stream, relay_once
from watchkeeper.node import Node


def _emit(node: Node, *types: str) -> None:
    with node.database.transaction() as session:
        for kind in types:
            emit(session, type=kind, actor="test", payload={"kind": kind}, clock=node.clock)


async def _relay_scenario(node: Node, url: str) -> tuple[list[dict[str, object]], int]:
    stream = f"WK_TEST_{uuid.uuid4().hex[:10].upper()}"
    prefix = f"wktest.{uuid.uuid4().hex[:10]}"
    client = await nats.connect(url, connect_timeout=5)
    jetstream = client.jetstream()
    try:
        await ensure_stream(jetstream, stream=stream, prefix=prefix)
        await ensure_stream(jetstream, stream=stream, prefix=prefix)  # idempotent
        _emit(node, "user.add", "peer.add")
        first = await relay_once(node.database, jetstream, prefix=prefix)
        _emit(node, "token.create")
        second = await relay_once(node.database, jetstream, prefix=prefix)
        nothing = await relay_once(node.database, jetstream, prefix=prefix)
        assert (first, second, nothing) == (2, 1, 0)
        # A relay that died before saving its cursor publishes again: JetStream drops the
        # duplicates by message id.
        with node.database.transaction() as session:
            session.execute(
                update(SubscriberCursor)
                .where(SubscriberCursor.subscriber == "nats-relay")
                .values(last_seq=0)
            )
        assert await relay_once(node.database, jetstream, prefix=prefix) == 3
        info = await jetstream.stream_info(stream)
        subscription = await jetstream.pull_subscribe(f"{prefix}.>", durable=None, stream=stream)
        messages = await subscription.fetch(10, timeout=2)
        documents = [orjson.loads(message.data) for message in messages]
        subjects = [message.subject for message in messages]
        assert subjects == [f"{prefix}.user.add", f"{prefix}.peer.add", f"{prefix}.token.create"]
        await jetstream.delete_stream(stream)
        return documents, info.state.messages
    finally:
        await client.close()


def test_relay_publishes_each_event_once_in_order(node: Node, nats_url: str) -> None:
    documents, stored = asyncio.run(_relay_scenario(node, nats_url))
    assert stored == 3
    assert [d["type"] for d in documents] == ["user.add", "peer.add", "token.create"]
    assert [d["seq"] for d in documents] == sorted(d["seq"] for d in documents)
    assert documents[0]["payload"] == {"kind": "user.add"}
