"""TAXII 2.1 server: taxii2-client pulling a large collection from a real ``watchkeeper serve``.

Figures, all measured in this run on this machine:
- pull: objects/s of taxii2-client (``as_pages``, 1,000 objects per request, HTTP Basic as a
  partner node) paging through a collection of 100,000 indicators served by a
  ``watchkeeper serve`` process on SQLite; baseline: medallion (the OASIS reference server,
  memory backend) serving 4,000 of the same indicators to the same client in the same way
  (it slows down quadratically with the collection's size, so it is timed on a slice);
  goal: >= 20,000 objects/s and a ratio >= 100;
- page p99: the 99th percentile of the time taxii2-client waits for one 1,000-object page of
  that pull, in ms; baseline: the goal, 100 ms.
Every object is checked to arrive exactly once. Environment: WK_BENCH_TAXII_OBJECTS (default
100000), WK_BENCH_MEDALLION_OBJECTS (default 4000; 0 skips medallion).
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _taxii_peers import free_port, medallion, pull, wait_for
from watchkeeper.config import load_settings
from watchkeeper.federation import add_collection, set_rights, set_sharing
from watchkeeper.intel import expand, import_stix
from watchkeeper.intel.synthetic import indicators, write_bundle
from watchkeeper.node import Node
from watchkeeper.security import add_peer, create_token, parse_duration, peer_account

COUNT = int(os.environ.get("WK_BENCH_TAXII_OBJECTS", "100000"))
MEDALLION = int(os.environ.get("WK_BENCH_MEDALLION_OBJECTS", "4000"))
PEER = "QA-BENCH"
# An Ed25519 public key (32 bytes, base64); the benchmark never verifies signatures.
PEER_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


def _line(metric: str, value: float, unit: str, baseline: float) -> None:
    print(
        json.dumps(
            {
                "bench": "taxii",
                "metric": metric,
                "value": round(value, 2),
                "unit": unit,
                "baseline": round(baseline, 2),
                "ratio": round(value / baseline, 3) if baseline else None,
            }
        ),
        flush=True,
    )


def _seed(folder: Path) -> tuple[str, str]:
    """A node holding ``COUNT`` indicators, one collection of them, and a partner node that
    may read it; returns the collection id and the partner's token."""
    bundle = folder / "bundle.json"
    write_bundle(bundle, indicators(COUNT))
    node = Node(load_settings(data_dir=folder / "node", database_url=None)).start()
    report = import_stix(
        node.database, clock=node.clock, actor="bench", inputs=expand([str(bundle)]), source="bench"
    )
    assert report.rejected == 0, report.rejects[:3]
    with node.database.transaction() as session:
        add_peer(
            session,
            clock=node.clock,
            actor="bench",
            code=PEER,
            url="https://peer.example",
            country="QA",
            public_key=PEER_KEY,
        )
        set_sharing(
            session,
            clock=node.clock,
            actor="bench",
            code=PEER,
            community="national",
            max_tlp="amber",
            need_to_know=True,
        )
        collection = add_collection(
            session, clock=node.clock, actor="bench", title="Indicators", alias="indicators"
        )
        set_rights(session, clock=node.clock, actor="bench", peer=PEER, read=[collection.id])
        account = peer_account(session, clock=node.clock, actor="bench", code=PEER)
        token = create_token(
            session,
            clock=node.clock,
            actor="bench",
            user_name=account.name,
            expires_in=parse_duration("1d"),
        ).secret
        collection_id = collection.id
    node.close()
    return collection_id, token


def _serve(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env.update(
        {
            "WATCHKEEPER_DATA_DIR": str(folder / "node"),
            "WATCHKEEPER_CONFIG": str(folder / "absent.toml"),
            "WATCHKEEPER_LOG_LEVEL": "warning",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "watchkeeper", "serve", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _check_once(url: str, token: str) -> None:
    """Every object of the collection arrives exactly once."""
    from taxii2client.v21 import Collection, as_pages

    seen: set[str] = set()
    total = 0
    for envelope in as_pages(Collection(url, user=PEER, password=token).get_objects, 1000):
        ids = [obj["id"] for obj in envelope.get("objects", ())]
        total += len(ids)
        seen.update(ids)
    assert total == len(seen) == COUNT, (total, len(seen), COUNT)


def _pull_ours(folder: Path, collection_id: str, token: str) -> tuple[float, float]:
    port = free_port()
    server = _serve(folder, port)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")
        url = f"{base}/taxii2/national/collections/{collection_id}/"
        _check_once(url, token)  # also warms the page cache
        result = pull(url, user=PEER, password=token, per_request=1000)
        assert result.objects == COUNT, (result.objects, COUNT)
        return result.rate, result.page_p99_ms
    finally:
        server.terminate()
        server.wait(timeout=30)


def _pull_medallion(folder: Path) -> float:
    objects = list(itertools.islice(indicators(COUNT), MEDALLION))
    with medallion(folder, objects) as url:
        started = time.perf_counter()
        result = pull(url, user="bench", password="bench-password", per_request=1000)
        assert result.objects == MEDALLION, (result.objects, MEDALLION)
        print(
            f"# medallion: {MEDALLION} objects in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        return result.rate


def main() -> None:
    """Measure and print."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        collection_id, token = _seed(folder)
        # The client process holds the seeding's modules; keep them out of its collector's
        # full passes, for both servers alike.
        gc.collect()
        gc.freeze()
        rate, p99 = _pull_ours(folder, collection_id, token)
        baseline = _pull_medallion(folder) if MEDALLION else 0.0
        print(f"# {COUNT} objects from watchkeeper; medallion on {MEDALLION}", file=sys.stderr)
        _line("pull_objects_per_s", rate, "objects/s", baseline)
        _line("page_1000_p99_ms", p99, "ms", 100)


if __name__ == "__main__":
    main()
