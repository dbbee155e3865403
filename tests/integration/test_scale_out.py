"""Scale-out mode: two ``watchkeeper serve`` processes on one PostgreSQL database, relaying the
event log to NATS JetStream. Each event reaches the stream once, and each subscriber once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import orjson
import pytest
from sqlalchemy import select

from integration.served import free_port
from watchkeeper.bus import EventCount, read_events
from watchkeeper.config import load_settings
from watchkeeper.node import Node
from watchkeeper.testing import issue_token


@pytest.fixture
def cluster(
    tmp_path: Path, postgres_schema_url: str, nats_url: str
) -> Iterator[tuple[Node, list[int], dict[str, str]]]:
    """Two serving processes sharing a database and a NATS stream of their own."""
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env.update(
        WATCHKEEPER_DATABASE_URL=postgres_schema_url,
        WATCHKEEPER_NATS_URL=nats_url,
        WATCHKEEPER_NATS_STREAM=f"WK_TEST_{tag.upper()}",
        WATCHKEEPER_NATS_SUBJECT=f"wktest.{tag}",
        WATCHKEEPER_BUS_POLL_SECONDS="0.1",
        WATCHKEEPER_CONFIG=str(tmp_path / "absent.toml"),
    )
    node = Node(
        load_settings(data_dir=tmp_path / "admin", database_url=env["WATCHKEEPER_DATABASE_URL"])
    ).start()
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "watchkeeper", "serve", "--port", str(port)],
            env={**env, "WATCHKEEPER_DATA_DIR": str(tmp_path / f"node{i}")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, port in enumerate(ports)
    ]
    try:
        for port in ports:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).is_success:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "a server did not start"
                time.sleep(0.2)
        yield node, ports, env
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            _, err = process.communicate(timeout=20)
            assert "Traceback" not in err, err
        asyncio.run(_delete_stream(nats_url, env["WATCHKEEPER_NATS_STREAM"]))
        node.close()


async def _delete_stream(url: str, stream: str) -> None:
    client = await nats.connect(url)
    try:
        await client.jetstream().delete_stream(stream)
    finally:
        await client.close()


async def _stream_messages(
    url: str, stream: str, subject: str, want: int
) -> list[dict[str, object]]:
    client = await nats.connect(url)
    try:
        jetstream = client.jetstream()
        deadline = time.monotonic() + 20
        while (await jetstream.stream_info(stream)).state.messages < want:
            assert time.monotonic() < deadline, "events did not reach the stream"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # give a duplicate the chance to show up
        subscription = await jetstream.pull_subscribe(f"{subject}.>", stream=stream)
        messages = await subscription.fetch(want + 20, timeout=2)
        return [orjson.loads(message.data) for message in messages]
    finally:
        await client.close()


def test_two_servers_relay_and_deliver_each_event_once(
    cluster: tuple[Node, list[int], dict[str, str]], nats_url: str
) -> None:
    node, ports, env = cluster
    token = issue_token(node, name="chief", roles=["admin"])
    headers = {"Authorization": f"Bearer {token}"}
    for index in range(6):  # alternate between the two API processes
        created = httpx.post(
            f"http://127.0.0.1:{ports[index % 2]}/api/v1/users",
            json={"name": f"analyst{index}", "roles": ["analyst"]},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 201, created.text
    with node.database.reader() as session:
        events = read_events(session, limit=1000)
    # the servers also record what they load at start (built-in playbooks): every event counts
    expected = [event.id for event in events]
    mine = [event for event in events if event.type in ("user.add", "token.create")]
    assert len(mine) == 8  # user.add x7, token.create x1

    documents = asyncio.run(
        _stream_messages(
            nats_url,
            env["WATCHKEEPER_NATS_STREAM"],
            env["WATCHKEEPER_NATS_SUBJECT"],
            len(expected),
        )
    )
    assert [d["id"] for d in documents] == expected  # once each, in log order

    deadline = time.monotonic() + 20
    while True:  # the event-stats subscriber counted each event once across both servers
        with node.database.reader() as session:
            counts = {row.type: row.count for row in session.scalars(select(EventCount))}
        if sum(counts.values()) >= len(expected) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {kind: counts.get(kind) for kind in ("user.add", "token.create")} == {
        "user.add": 7,
        "token.create": 1,
    }
    assert sum(counts.values()) == len(expected)
