"""Intelligence ingest: a 100,000-indicator STIX bundle into a fresh SQLite node.

Figures, all measured in this run on this machine:
- import: indicators/s from the bundle file to stored, normalised and indexed rows; baseline:
  ``stix2.parse`` (python-stix2, the reference library) of the same objects, timed on a
  5,000-object slice because it is far slower; goal ratio >= 50;
- re-import of the same bundle (everything unchanged), against the first import;
- this machine's floor for the same work: orjson parsing the bundle file alone, plus a bare
  sqlite3 ``executemany`` of one row per object (id, modified, canonical JSON) under a unique
  (id, modified) index, in one transaction per 20,000 rows, same pragmas as the node; what
  an import could reach if checking, normalising, values and provenance cost nothing;
- 1,000,000 indicators imported in a child process: its peak RSS (goal <= 1.5 GB), and the
  p99 latency of 2,000 look-ups of stored values (goal < 5 ms), against the p99 of the
  same look-ups on the 100,000-indicator store.
Environment: WK_BENCH_INDICATORS (default 100000), WK_BENCH_MILLION (default 1000000; 0 skips).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from watchkeeper.config import load_settings
from watchkeeper.intel import expand, import_stix, lookup
from watchkeeper.intel.synthetic import indicators, write_bundle
from watchkeeper.node import Node

COUNT = int(os.environ.get("WK_BENCH_INDICATORS", "100000"))
MILLION = int(os.environ.get("WK_BENCH_MILLION", "1000000"))
STIX2_SLICE = 5000


def _line(metric: str, value: float, unit: str, baseline: float) -> None:
    print(
        json.dumps(
            {
                "bench": "intel_ingest",
                "metric": metric,
                "value": round(value, 2),
                "unit": unit,
                "baseline": round(baseline, 2),
                "ratio": round(value / baseline, 3) if baseline else None,
            }
        ),
        flush=True,
    )


def _node(folder: Path) -> Node:
    return Node(load_settings(data_dir=folder, database_url=None)).start()


def _import(node: Node, bundle: Path) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    report = import_stix(
        node.database, clock=node.clock, actor="bench", inputs=expand([str(bundle)]), source="bench"
    )
    seconds = time.perf_counter() - started
    assert report.rejected == 0, report.rejects[:3]
    return seconds, report.counts


def _lookup_p99(node: Node, values: list[str]) -> float:
    timings = []
    with node.database.reader() as session:
        for value in values:
            started = time.perf_counter()
            lookup(session, value=value)
            timings.append(time.perf_counter() - started)
    return statistics.quantiles(timings, n=100)[98] * 1000


def _sample_values(count: int, *, seed: int) -> list[str]:
    """Values of the first patterns of the bundle made with ``seed`` (each pattern ends with
    its quoted value), shuffled."""
    found = [obj["pattern"].split("'")[-2] for obj in indicators(count * 3, seed=seed)]
    random.Random(1).shuffle(found)
    return found[:count]


def _stix2_rate(count: int) -> float:
    import stix2

    objects = list(itertools.islice(indicators(count), count))
    started = time.perf_counter()
    stix2.parse(
        {
            "type": "bundle",
            "id": "bundle--0b4b1e5e-0000-4000-8000-000000000000",
            "objects": objects,
        },
        allow_custom=True,
    )
    return count / (time.perf_counter() - started)


def _floor(bundle: Path, folder: Path) -> float:
    """Indicators/s of parsing the bundle plus writing one bare row per object (see above)."""
    import sqlite3

    started = time.perf_counter()
    objects = orjson.loads(bundle.read_bytes())["objects"]
    rows = [
        (obj["id"], obj["modified"], orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode())
        for obj in objects
    ]
    connection = sqlite3.connect(folder / "floor.db", isolation_level=None)
    for pragma in (
        "page_size=16384",
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "cache_size=-65536",
    ):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute("CREATE TABLE o (seq INTEGER PRIMARY KEY, id TEXT, modified TEXT, doc TEXT)")
    connection.execute("CREATE UNIQUE INDEX o_key ON o (id, modified)")
    for start in range(0, len(rows), 20_000):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO o (id, modified, doc) VALUES (?, ?, ?)", rows[start : start + 20_000]
        )
        connection.execute("COMMIT")
    connection.close()
    return len(rows) / (time.perf_counter() - started)


def child_million(folder: str, count: int) -> None:
    """Run in a child: import ``count`` indicators, then report RSS and look-up p99 as JSON."""
    bundle = Path(folder) / "million.json"
    write_bundle(bundle, indicators(count, seed=11), seed=11)
    node = _node(Path(folder) / "node")
    seconds, _ = _import(node, bundle)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    p99 = _lookup_p99(node, _sample_values(2000, seed=11))
    print(orjson.dumps({"seconds": seconds, "peak_rss": peak, "p99_ms": p99}).decode())


def main() -> None:
    """Measure and print."""
    with tempfile.TemporaryDirectory() as folder:
        bundle = Path(folder) / "bundle.json"
        write_bundle(bundle, indicators(COUNT))
        node = _node(Path(folder) / "node")
        first, counts = _import(node, bundle)
        assert counts["created"] == COUNT, counts
        again, counts = _import(node, bundle)
        assert counts["unchanged"] == COUNT, counts
        p99_small = _lookup_p99(node, _sample_values(2000, seed=7))
        node.close()
        reference = _stix2_rate(STIX2_SLICE)
        floor = _floor(bundle, Path(folder))
        rate = COUNT / first
        print(f"# {COUNT} indicators; stix2.parse timed on {STIX2_SLICE}", file=sys.stderr)
        _line("import_indicators_per_s", rate, "indicators/s", reference)
        _line("import_vs_machine_floor", rate, "indicators/s", floor)
        _line("reimport_unchanged_per_s", COUNT / again, "indicators/s", rate)
        if MILLION:
            child = subprocess.run(
                [sys.executable, __file__, "--child", folder, str(MILLION)],
                capture_output=True,
                text=True,
                check=True,
            )
            figures = orjson.loads(child.stdout.strip().splitlines()[-1])
            _line("million_import_per_s", MILLION / figures["seconds"], "indicators/s", rate)
            _line("million_peak_rss_mb", figures["peak_rss"] / 1e6, "MB", 1500)
            _line("million_lookup_p99_ms", figures["p99_ms"], "ms", p99_small)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child_million(sys.argv[2], int(sys.argv[3]))
    else:
        main()
