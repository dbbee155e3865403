"""Indicator matching: DNS-log events against a 1,000,000-indicator index, on one core.

Data (seeded, generated here): 600,000 domains, 300,000 IPv4 addresses and 100,000 IPv4
networks /16-/28 as indicators; DNS-log events (query name, answer address) where about 0.5% of
events hit each kind: exact domain, subdomain of an indicator domain, exact address, address
inside a network. Background names come from a pool of benign names of one to four labels
below a registered name, background addresses from a range no indicator covers; each pool
holds a tenth as many distinct values as there are events (telemetry repeats itself).

Figures, all measured in this run on this machine, one thread everywhere:
- matching (exact + subdomain + CIDR longest prefix, both columns): events/s, goal >= 5M/s;
  baseline: DuckDB (threads=1, in-memory tables) running the exact-match joins only, goal
  ratio >= 1.0; and DuckDB running the full semantics in SQL (every parent of the name, every
  network around the address), goal ratio >= 6;
- index build for the indicators: seconds, goal < 5;
- index memory in bytes against the raw UTF-8 bytes of the indicator values, goal <= 2x plus a
  fixed overhead.
The hit counts of the matcher and of DuckDB's full query are compared, and a mismatch is
reported on stderr and by the exit status.
Each side is timed RUNS times and the fastest run counts (matcher and DuckDB alike).
Environment: WK_BENCH_EVENTS (default 10000000), WK_BENCH_INDICATORS (default 1000000),
WK_BENCH_RUNS (default 3).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core, as the goal says (before import)

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from watchkeeper.detect import IndicatorIndex, match_column

EVENTS = int(os.environ.get("WK_BENCH_EVENTS", "10000000"))
INDICATORS = int(os.environ.get("WK_BENCH_INDICATORS", "1000000"))
HIT_SHARE = 0.005  # per kind of hit
SEED = 20261129
RUNS = int(os.environ.get("WK_BENCH_RUNS", "3"))
CONTIGUOUS = pa.schema([("id", pa.int64()), ("name", pa.large_string()), ("ip", pa.large_string())])


def _line(metric: str, value: float, unit: str, baseline: float | None) -> None:
    print(
        json.dumps(
            {
                "bench": "matching",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": round(value / baseline, 3) if baseline else None,
            }
        ),
        flush=True,
    )


def _quads(numbers: np.ndarray) -> pl.Series:
    n = pl.Series(numbers.astype(np.int64))
    return (
        pl.DataFrame({"n": n})
        .select(
            pl.concat_str(
                [((pl.col("n") // 256**k) % 256).cast(pl.String) for k in (3, 2, 1, 0)],
                separator=".",
            )
        )
        .to_series()
    )


def _indicators(rng: np.random.Generator) -> pl.DataFrame:
    """Kinds, values, refs: 60% domains, 30% addresses, 10% networks."""
    domains = int(INDICATORS * 0.6)
    addresses = int(INDICATORS * 0.3)
    networks = INDICATORS - domains - addresses
    tlds = pl.Series(["com", "net", "org", "info", "xyz", "top", "ru", "io"])
    names = pl.DataFrame(
        {"i": np.arange(domains), "t": tlds.gather(rng.integers(0, len(tlds), domains))}
    ).select(pl.format("bad{}x{}.{}", pl.col("i"), pl.col("i") % 97, pl.col("t")))
    # Indicator addresses and networks live in 20.0.0.0-99.255.255.255; background is above.
    ips = np.unique(rng.integers(20 << 24, 100 << 24, addresses * 2, dtype=np.int64))
    ips = rng.permutation(ips)[:addresses]
    lengths = rng.integers(16, 29, networks)
    starts = rng.integers(20 << 24, 100 << 24, networks, dtype=np.int64)
    starts = starts & ((0xFFFFFFFF << (32 - lengths)) & 0xFFFFFFFF)
    cidrs = pl.DataFrame({"a": _quads(starts), "l": lengths}).select(pl.format("{}/{}", "a", "l"))
    return pl.DataFrame(
        {
            "kind": ["domain"] * domains + ["ipv4"] * addresses + ["cidr4"] * networks,
            "value": pl.concat([names.to_series(), _quads(ips), cidrs.to_series()]),
            "ref": np.arange(INDICATORS, dtype=np.int64) + 1,
            "net": np.concatenate([np.zeros(domains + addresses, np.int64), starts]),
            "len": np.concatenate([np.zeros(domains + addresses, np.int64), lengths]),
        }
    )


def _events(rng: np.random.Generator, indicators: pl.DataFrame) -> pl.DataFrame:
    """Query names and answer addresses, with HIT_SHARE of events per kind of hit."""
    pool = max(EVENTS // 10, 1000)
    depth = rng.integers(0, 4, pool)
    prefix = pl.Series(["", "www.", "a.cdn.", "x.y.z."]).gather(depth)
    benign = (
        pl.DataFrame({"p": prefix, "i": np.arange(pool)})
        .select(pl.format("{}host{}.site{}.example.com", "p", pl.col("i"), pl.col("i") % 5003))
        .to_series()
    )
    names = benign.gather(rng.integers(0, pool, EVENTS))
    addresses = _quads(rng.integers(128 << 24, 224 << 24, pool, dtype=np.int64)).gather(
        rng.integers(0, pool, EVENTS)
    )
    domains = indicators.filter(pl.col("kind") == "domain")["value"]
    ips = indicators.filter(pl.col("kind") == "ipv4")["value"]
    nets = indicators.filter(pl.col("kind") == "cidr4")
    hits = int(EVENTS * HIT_SHARE)
    rows = rng.permutation(EVENTS)[: hits * 4]
    exact, sub, addr, inside = (rows[k * hits : (k + 1) * hits] for k in range(4))
    names = names.scatter(exact, domains.gather(rng.integers(0, len(domains), hits)))
    subs = (
        pl.DataFrame({"d": domains.gather(rng.integers(0, len(domains), hits))})
        .select(pl.format("s{}.{}", pl.lit(1) + pl.int_range(hits) % 50, "d"))
        .to_series()
    )
    names = names.scatter(sub, subs)
    addresses = addresses.scatter(addr, ips.gather(rng.integers(0, len(ips), hits)))
    pick = rng.integers(0, nets.height, hits)
    size = np.left_shift(1, 32 - nets["len"].to_numpy()[pick])
    inner = nets["net"].to_numpy()[pick] + rng.integers(0, 1 << 30, hits) % size
    addresses = addresses.scatter(inside, _quads(inner))
    frame = pl.DataFrame({"id": np.arange(EVENTS), "name": names, "ip": addresses})
    # As a reader would hand it over: each column in one contiguous buffer, not views
    # scattered over the generator's pools.
    return pl.from_arrow(frame.to_arrow().cast(CONTIGUOUS))  # type: ignore[return-value]


def _best(run: Callable[[], object]) -> tuple[float, object]:
    """The faster of RUNS timed runs (the first also warms caches and the allocator)."""
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - start)
    return min(timings), result


def _distinct(rows: np.ndarray) -> int:
    """How many rows hit: matches come ordered by row."""
    return int(np.count_nonzero(np.diff(rows))) + 1 if len(rows) else 0


def _ours(index: IndicatorIndex, events: pl.DataFrame) -> tuple[float, int, int]:
    def run() -> tuple[int, int]:
        by_name = match_column(index=index, values=events["name"], field="domain")
        by_address = match_column(index=index, values=events["ip"], field="ip")
        return _distinct(by_name.rows), _distinct(by_address.rows)

    seconds, (names, addresses) = _best(run)  # type: ignore[misc]
    return seconds, names, addresses


def _duckdb(indicators: pl.DataFrame, events: pl.DataFrame) -> tuple[float, float, int, int]:
    con = duckdb.connect(":memory:", config={"threads": 1})
    domains = indicators.filter(pl.col("kind") == "domain").select("value", "ref")  # noqa: F841
    ips = indicators.filter(pl.col("kind") == "ipv4").select("value", "ref")  # noqa: F841
    nets = indicators.filter(pl.col("kind") == "cidr4").select("net", "len", "ref")  # noqa: F841
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    con.execute("CREATE TABLE domains AS SELECT * FROM domains")
    con.execute("CREATE TABLE ips AS SELECT * FROM ips")
    con.execute("CREATE TABLE nets AS SELECT * FROM nets")
    exact, _ = _best(
        lambda: con.execute(
            "SELECT (SELECT count(*) FROM events e JOIN domains d ON e.name = d.value),"
            " (SELECT count(*) FROM events e JOIN ips i ON e.ip = i.value)"
        ).fetchall()
    )
    full, row = _best(lambda: con.execute(FULL).fetchone())
    con.close()
    assert isinstance(row, tuple)
    return exact, full, int(row[0]), int(row[1])


FULL = """
        WITH parts AS (SELECT id, string_split(name, '.') AS p FROM events),
        suffixes AS (
            SELECT id, array_to_string(p[k:], '.') AS suffix
            FROM (SELECT id, p, unnest(range(1, greatest(len(p), 2))) AS k FROM parts)
        ),
        numbers AS (
            SELECT id, ip,
                CAST(split_part(ip, '.', 1) AS BIGINT) * 16777216
                + CAST(split_part(ip, '.', 2) AS BIGINT) * 65536
                + CAST(split_part(ip, '.', 3) AS BIGINT) * 256
                + CAST(split_part(ip, '.', 4) AS BIGINT) AS n
            FROM events
        ),
        lengths AS (SELECT DISTINCT len FROM nets),
        covered AS (
            SELECT x.id, max(x.len) AS len
            FROM (SELECT numbers.id, lengths.len,
                         (numbers.n >> (32 - lengths.len)) << (32 - lengths.len) AS net
                  FROM numbers CROSS JOIN lengths) x
            JOIN nets ON nets.len = x.len AND nets.net = x.net
            GROUP BY x.id
        )
        SELECT
            (SELECT count(DISTINCT s.id) FROM suffixes s JOIN domains d ON s.suffix = d.value),
            (SELECT count(*) FROM (
                SELECT n.id FROM numbers n JOIN ips i ON n.ip = i.value
                UNION SELECT id FROM covered))
"""


def main() -> int:
    """Generate, measure, print; exit 1 when the matcher and DuckDB disagree on hit counts."""
    rng = np.random.default_rng(SEED)
    indicators = _indicators(rng)
    events = _events(rng, indicators)
    print(
        f"# {INDICATORS} indicators, {EVENTS} events, "
        f"{events['name'].n_unique()} distinct names, {events['ip'].n_unique()} distinct "
        f"addresses, polars threads {pl.thread_pool_size()}",
        file=sys.stderr,
    )
    start = time.perf_counter()
    index = IndicatorIndex.from_rows(
        kinds=indicators["kind"], values=indicators["value"], refs=indicators["ref"].to_numpy()
    )
    build = time.perf_counter() - start
    memory = index.memory()
    seconds, name_rows, address_rows = _ours(index, events)
    exact, full, sql_name_rows, sql_address_rows = _duckdb(indicators, events)
    rate = EVENTS / seconds
    _line("events_per_s_vs_duckdb_exact", rate, "events/s", EVENTS / exact)
    _line("events_per_s_vs_duckdb_full", rate, "events/s", EVENTS / full)
    _line("index_build", build, "s", 5.0)
    _line("index_memory", memory.index_bytes, "bytes", memory.raw_value_bytes)
    agree = (name_rows, address_rows) == (sql_name_rows, sql_address_rows)
    print(
        f"# rows hit: names {name_rows} (duckdb {sql_name_rows}), "
        f"addresses {address_rows} (duckdb {sql_address_rows}); "
        f"{'agree' if agree else 'DISAGREE'}",
        file=sys.stderr,
    )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
