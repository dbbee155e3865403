"""Node-to-node sync: how long an import into node A takes to be readable on partner node B.

Two ``watchkeeper serve`` processes on SQLite; A has a push link to B's inbox (B a regional
partner with need-to-know). Each round POSTs a small bundle (``WK_BENCH_SYNC_OBJECTS``
indicators, default 5) to A's import API and polls B's API until every object of it is
there. The push is driven by A's event log (the ``sync-wake`` subscriber), not by the
schedule (``sync_interval_seconds`` stays at 300 s).

Figures, measured in this run on this machine:
- propagation p50 and p95: seconds from the import request to A until the last object is
  readable on B, over ``WK_BENCH_SYNC_ROUNDS`` rounds (default 20), import time included;
  baseline: the goal of issue 4, 2 s at p50 (ratio below 1 is better).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from _taxii_peers import free_port
from watchkeeper.config import load_settings
from watchkeeper.core.tlp import TLP2_MARKING_IDS, Tlp
from watchkeeper.federation import (
    Credentials,
    add_collection,
    add_link,
    set_rights,
    set_sharing,
)
from watchkeeper.node import Node
from watchkeeper.security import (
    SecretBox,
    add_peer,
    add_user,
    create_token,
    parse_duration,
    peer_account,
)

ROUNDS = int(os.environ.get("WK_BENCH_SYNC_ROUNDS", "20"))
OBJECTS = int(os.environ.get("WK_BENCH_SYNC_OBJECTS", "5"))
GOAL_P50 = 2.0
TIMEOUT = 30.0
GREEN = TLP2_MARKING_IDS[Tlp.GREEN]


def _line(metric: str, value: float, unit: str, baseline: float) -> None:
    print(
        json.dumps(
            {
                "bench": "sync",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": baseline,
                "ratio": round(value / baseline, 3) if baseline else None,
            }
        ),
        flush=True,
    )


def _node(folder: Path, port: int) -> Node:
    settings = load_settings(
        data_dir=folder, database_url=None, port=port, public_url=f"http://127.0.0.1:{port}"
    )
    return Node(settings).start()


def _token(node: Node, user: str) -> str:
    with node.database.transaction() as session:
        return create_token(
            session, clock=node.clock, actor="bench", user_name=user,
            expires_in=parse_duration("1d"),
        ).secret  # fmt: skip


def _setup(root: Path, ports: dict[str, int]) -> dict[str, str]:
    """Nodes A and B, partners of each other, and A's push link to B; admin tokens."""
    a, b = _node(root / "a", ports["a"]), _node(root / "b", ports["b"])
    ida = a.init_identity(actor="bench", code="QA-NCSA", name="A", country="QA")
    idb = b.init_identity(actor="bench", code="GCC-RCERT", name="B", country="BH")
    tokens: dict[str, str] = {}
    for node, name in ((a, "a"), (b, "b")):
        with node.database.transaction() as session:
            add_user(session, clock=node.clock, actor="bench", name="admin", roles=["admin"])
        tokens[name] = _token(node, "admin")
    with b.database.transaction() as session:
        add_peer(
            session, clock=b.clock, actor="bench", code=ida.code, url=f"http://127.0.0.1:{ports['a']}",
            country=ida.country, public_key=ida.signing_public_key,
        )  # fmt: skip
        set_sharing(session, clock=b.clock, actor="bench", code=ida.code, community="regional")
        inbox = add_collection(
            session, clock=b.clock, actor="bench", title="Inbox", community="regional"
        )
        set_rights(session, clock=b.clock, actor="bench", peer=ida.code, write=[inbox.id])
        account = peer_account(session, clock=b.clock, actor="bench", code=ida.code).name
        inbox_url = f"http://127.0.0.1:{ports['b']}/taxii2/regional/collections/{inbox.id}/"
    secret = _token(b, account)
    with a.database.transaction() as session:
        add_peer(
            session, clock=a.clock, actor="bench", code=idb.code, url=f"http://127.0.0.1:{ports['b']}",
            country=idb.country, public_key=idb.signing_public_key,
        )  # fmt: skip
        set_sharing(
            session, clock=a.clock, actor="bench", code=idb.code, community="regional",
            max_tlp="amber", need_to_know=True,
        )  # fmt: skip
        shared = add_collection(
            session, clock=a.clock, actor="bench", title="Regional", community="regional"
        )
        set_rights(session, clock=a.clock, actor="bench", peer=idb.code, read=[shared.id])
        add_link(
            session, clock=a.clock, actor="bench", peer=idb.code, direction="push",
            url=inbox_url, collection=shared.id, credentials=Credentials("bearer", secret),
            box=SecretBox(a.data_dir),
        )  # fmt: skip
    a.close()
    b.close()
    return tokens


def _serve(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env.update(
        WATCHKEEPER_DATA_DIR=str(folder),
        WATCHKEEPER_CONFIG=str(folder / "absent.toml"),
        WATCHKEEPER_PUBLIC_URL=f"http://127.0.0.1:{port}",
        WATCHKEEPER_LOG_LEVEL="warning",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "watchkeeper", "serve", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "serve.log").open("ab"),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve on {port} did not start: see {folder / 'serve.log'}")
        time.sleep(0.1)


def _indicator(round_no: int, n: int) -> dict[str, Any]:
    stamp = "2026-03-01T10:00:00.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": stamp,
        "modified": stamp,
        "pattern": f"[domain-name:value = 'round{round_no}-{n}.bench.example']",
        "pattern_type": "stix",
        "valid_from": stamp,
        "object_marking_refs": [GREEN],
    }


def _round(client: httpx.Client, ports: dict[str, int], tokens: dict[str, str], n: int) -> float:
    objects = [_indicator(n, i) for i in range(OBJECTS)]
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    started = time.perf_counter()
    accepted = client.post(
        f"http://127.0.0.1:{ports['a']}/api/v1/intel/imports",
        content=orjson.dumps(bundle),
        headers={"Authorization": f"Bearer {tokens['a']}", "Content-Type": "application/json"},
    )
    accepted.raise_for_status()
    waiting = [obj["id"] for obj in objects]
    while waiting:
        answer = client.get(
            f"http://127.0.0.1:{ports['b']}/api/v1/intel/objects/{waiting[-1]}",
            headers={"Authorization": f"Bearer {tokens['b']}"},
        )
        if answer.status_code == 200:
            waiting.pop()
            continue
        if time.perf_counter() - started > TIMEOUT:
            raise RuntimeError(f"round {n}: objects not on B within {TIMEOUT} s")
        time.sleep(0.01)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wk-bench-sync-") as temp:
        root = Path(temp)
        ports = {"a": free_port(), "b": free_port()}
        tokens = _setup(root, ports)
        processes = [_serve(root / "b", ports["b"]), _serve(root / "a", ports["a"])]
        try:
            with httpx.Client(timeout=30) as client:
                _round(client, ports, tokens, -1)  # warm-up: first connections, first push
                times = sorted(_round(client, ports, tokens, n) for n in range(ROUNDS))
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    _line("propagation_p50_s", p50, "s", GOAL_P50)
    _line("propagation_p95_s", p95, "s", GOAL_P50)
    print(
        f"# {ROUNDS} rounds of {OBJECTS} objects: min {times[0]:.3f} s, max {times[-1]:.3f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
