"""Early-warning analytics on one core: DGA scoring, beacon scoring, first-seen rare domains.

Data (seeded, generated here):
- DGA: distinct names, half random-character labels, half made of four syllables from a pool,
  under zero to two subdomain levels and a mix of suffixes (``co.uk`` included);
- beacons: connections from a few thousand hosts to a few thousand servers, pairs with Poisson
  traffic and one pair in fifty on a timer with jitter;
- rarity: DNS events from 200 organisations against a known table of what they saw before.

Figures, all measured in this run on this machine, one thread everywhere:
- DGA names/s (distinct names), goal >= 200,000/s; baseline: a straightforward per-name
  Python scorer of the same model (same table, features, weights), which must agree with the
  vectorised scores to 1e-9 (checked; a mismatch fails the run);
- beacon pairs/s and events/s; baseline: the same statistics per pair with NumPy in a Python
  loop over pairs, which must agree on every score to 1e-9;
- rarity events/s (update of the known table + rare first-seen domains); baseline: a Python
  loop with dictionaries doing the upsert, which must give the same known table counts.
Each side is timed RUNS times and the fastest run counts.
Environment: WK_BENCH_DGA_NAMES (default 1000000), WK_BENCH_BEACON_CONNECTIONS (default
1000000), WK_BENCH_RARITY_EVENTS (default 1000000), WK_BENCH_RUNS (default 3); the baselines
run on a slice (WK_BENCH_BASELINE_SHARE, default 0.1) and are reported as rates.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core (before import)

import numpy as np
import polars as pl

from watchkeeper.detect.beacons import JITTER_SCALE, MAX_BEATS, beacon_scores
from watchkeeper.detect.dga import (
    BOUNDARY,
    CODES,
    CONSONANT,
    DIGIT,
    LETTER,
    SIZE,
    VOWEL,
    DgaModel,
    default_model,
    dga_scores,
)
from watchkeeper.detect.domains import MULTI_LABEL_SUFFIXES
from watchkeeper.detect.rarity import empty_known, first_seen

NAMES = int(os.environ.get("WK_BENCH_DGA_NAMES", "1000000"))
CONNECTIONS = int(os.environ.get("WK_BENCH_BEACON_CONNECTIONS", "1000000"))
EVENTS = int(os.environ.get("WK_BENCH_RARITY_EVENTS", "1000000"))
RUNS = int(os.environ.get("WK_BENCH_RUNS", "3"))
SHARE = float(os.environ.get("WK_BENCH_BASELINE_SHARE", "0.1"))
SEED = 20261205
START = datetime(2026, 3, 1, tzinfo=UTC)
failed = False


def _line(metric: str, value: float, unit: str, baseline: float | None) -> None:
    print(
        json.dumps(
            {
                "bench": "analytics",
                "metric": metric,
                "value": round(value, 3),
                "unit": unit,
                "baseline": None if baseline is None else round(baseline, 3),
                "ratio": round(value / baseline, 3) if baseline else None,
            }
        ),
        flush=True,
    )


def _best(run: Callable[[], object]) -> tuple[float, object]:
    timings = []
    result: object = None
    for _ in range(RUNS):
        start = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - start)
    return min(timings), result


def _fail(message: str) -> None:
    global failed
    failed = True
    print(f"# MISMATCH: {message}", file=sys.stderr)


# DGA ------------------------------------------------------------------------------------------


def _names(rng: np.random.Generator) -> pl.Series:
    """Half random labels, half labels of four or five syllables (duplicates dropped)."""
    syllables = pl.Series(
        _words(
            "ka lo mi ren sto bel tra vin co da mar pel ton ri sa ver no gal fi ber "
            "lan te mo ro cha son fer li pa dor"
        )
    )
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", np.uint8)
    lengths = rng.integers(6, 20, NAMES)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    chars = letters[rng.integers(0, 30, int(offsets[-1]))].tobytes().decode()
    random_labels = [chars[offsets[k] : offsets[k + 1]] for k in range(NAMES // 2)]
    human_count = NAMES - NAMES // 2
    human = pl.concat_str(
        [syllables.gather(rng.integers(0, len(syllables), human_count)) for _ in range(4)]
        + [
            pl.Series(["", "", "", "s", "on"]).gather(rng.integers(0, 5, human_count)),
        ]
    )
    labels = pl.concat([pl.Series(random_labels), pl.select(human).to_series()])
    prefix = pl.Series(["", "www.", "a.cdn.", "mail."]).gather(rng.integers(0, 4, NAMES))
    suffix = pl.Series([".com", ".net", ".co.uk", ".fr", ".com.au"]).gather(
        rng.integers(0, 5, NAMES)
    )
    return (
        pl.DataFrame({"p": prefix, "l": labels, "s": suffix})
        .select(pl.concat_str(["p", "l", "s"]).alias("name"))["name"]
        .unique(maintain_order=True)
    )


def _words(text: str) -> list[str]:
    return text.split()


def _python_score(model: DgaModel, name: str) -> float:
    """The same model, one name at a time, in plain Python."""
    parts = name.lower().strip().rstrip(".").split(".")
    take = 3 if len(parts) >= 3 and ".".join(parts[-2:]) in MULTI_LABEL_SUFFIXES else 2
    label = parts[-min(take, len(parts))]
    codes = [int(CODES[b]) for b in label.encode()]
    padded = [BOUNDARY] * (model.order - 1) + codes + [BOUNDARY]
    total = 0.0
    for end in range(model.order - 1, len(padded)):
        gram = 0
        for back in range(model.order):
            gram += padded[end - back] * SIZE**back
        total += float(model.table[gram])
    n = len(codes)
    counts: dict[int, int] = {}
    run = longest = 0
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
        run = run + 1 if CONSONANT[code] else 0
        longest = max(longest, run)
    letters = sum(1 for c in codes if LETTER[c])
    features = [
        total / (n + 1),
        n,
        sum(1 for c in codes if DIGIT[c]) / max(n, 1),
        math.log2(n) - sum(c * math.log2(c) for c in counts.values()) / n,
        longest,
        (sum(1 for c in codes if VOWEL[c]) / letters) if letters else 0.0,
    ]
    logit = float(model.weights[-1])
    for k, value in enumerate(features):
        logit += (value - model.mean[k]) / model.scale[k] * model.weights[k]
    return 1.0 / (1.0 + math.exp(-logit))


def bench_dga(rng: np.random.Generator) -> None:
    names = _names(rng)
    model = default_model()
    seconds, result = _best(lambda: dga_scores(names=names, model=model))
    assert isinstance(result, pl.DataFrame)
    sample = names.slice(0, max(int(NAMES * SHARE), 1)).to_list()
    start = time.perf_counter()
    reference = [_python_score(model, name) for name in sample]
    baseline = time.perf_counter() - start
    ours = result["score"].slice(0, len(sample)).to_numpy()
    worst = float(np.max(np.abs(ours - np.array(reference))))
    if worst > 1e-9:
        _fail(f"DGA scores differ from the per-name scorer by up to {worst}")
    print(
        f"# DGA: {result.height} distinct names, {result['dga'].sum()} flagged, "
        f"max |vectorised - per-name| {worst:.2e}",
        file=sys.stderr,
    )
    _line("dga_names_per_s", result.height / seconds, "names/s", len(sample) / baseline)


# Beacons --------------------------------------------------------------------------------------


def _connections(rng: np.random.Generator) -> pl.DataFrame:
    pairs = max(CONNECTIONS // 50, 1)
    per_pair = rng.multinomial(CONNECTIONS - pairs * 2, np.ones(pairs) / pairs) + 2
    owner = np.repeat(np.arange(pairs), per_pair)
    timed = owner % 50 == 0
    gaps = np.where(
        timed,
        60.0 * (1 + rng.uniform(-0.05, 0.05, CONNECTIONS)),
        rng.exponential(120.0, CONNECTIONS),
    )
    starts = np.concatenate([[0], np.cumsum(per_pair)[:-1]])
    seconds = np.cumsum(gaps)
    seconds -= np.repeat(seconds[starts] - gaps[starts], per_pair)
    order = rng.permutation(CONNECTIONS)
    return pl.DataFrame(
        {
            "@timestamp": pl.Series(
                (seconds[order] * 1e6).astype(np.int64) + int(START.timestamp() * 1e6)
            ).cast(pl.Datetime("us", "UTC")),
            "source.ip": pl.DataFrame({"o": owner[order] // 3})
            .select(pl.format("10.1.{}.{}", pl.col("o") // 256 % 256, pl.col("o") % 256))
            .to_series(),
            "destination.ip": pl.DataFrame({"o": owner[order]})
            .select(pl.format("198.51.{}.{}", pl.col("o") % 7, pl.col("o") % 251))
            .to_series(),
            "destination.port": pl.Series(["443", "80", "8080"]).gather(owner[order] % 3),
        }
    )


def _python_beacons(frame: pl.DataFrame, min_connections: int) -> dict[tuple[str, ...], float]:
    """Per pair, in a Python loop, with NumPy for each pair's gaps."""
    rows = frame.sort("@timestamp").select(
        "source.ip", "destination.ip", "destination.port", pl.col("@timestamp").dt.epoch("us")
    )
    groups: dict[tuple[str, ...], list[int]] = {}
    for src, dst, port, stamp in rows.iter_rows():
        groups.setdefault((src, dst, port), []).append(stamp)
    scores = {}
    for key, stamps in groups.items():
        if len(stamps) < min_connections:
            continue
        gaps = np.diff(np.array(stamps)) / 1e6
        gaps = gaps[gaps > 1.0]
        if not len(gaps):
            scores[key] = 0.0
            continue
        period = np.median(gaps)
        beats = np.clip(np.round(gaps / period), 0, MAX_BEATS)
        on_beats = beats >= 1
        deviation = np.abs(gaps[on_beats] / beats[on_beats] / period - 1)
        jitter = float(np.median(deviation)) if len(deviation) else 1.0
        on = float(np.sum(deviation <= 0.1)) / len(gaps)
        scores[key] = (
            on * (1 - min(max(jitter / JITTER_SCALE, 0), 1)) * (1 - math.exp(-len(gaps) / 10))
        )
    return scores


def bench_beacons(rng: np.random.Generator) -> None:
    frame = _connections(rng)
    seconds, result = _best(lambda: beacon_scores(frame=frame))
    assert isinstance(result, pl.DataFrame)
    sample = frame.head(max(int(CONNECTIONS * SHARE), 1))
    start = time.perf_counter()
    reference = _python_beacons(sample, 8)
    baseline = time.perf_counter() - start
    check = beacon_scores(frame=sample)
    worst = max(
        (
            abs(score - reference[(src, dst, port)])
            for src, dst, port, score in check.select(
                "source.ip", "destination.ip", "destination.port", "score"
            ).iter_rows()
        ),
        default=0.0,
    )
    if worst > 1e-9 or len(reference) != check.height:
        _fail(f"beacon scores differ from the per-pair loop by up to {worst}")
    high = result.filter(pl.col("score") > 0.7).height
    print(
        f"# beacons: {CONNECTIONS} connections, {result.height} pairs scored, {high} over 0.7; "
        f"max |vectorised - loop| {worst:.2e}",
        file=sys.stderr,
    )
    _line("beacon_pairs_per_s", result.height / seconds, "pairs/s", check.height / baseline)
    _line("beacon_events_per_s", CONNECTIONS / seconds, "events/s", sample.height / baseline)


# Rarity ---------------------------------------------------------------------------------------


def _dns(rng: np.random.Generator, count: int, day: int) -> pl.DataFrame:
    orgs = pl.Series([f"org{k:03d}" for k in range(200)])
    popular = pl.Series([f"service{k}.com" for k in range(5000)])
    pick = np.minimum(rng.zipf(1.3, count), 5000) - 1
    names = pl.Series(["www.", "api.", ""]).gather(rng.integers(0, 3, count)) + popular.gather(pick)
    rare = rng.random(count) < 0.001
    names = names.scatter(
        np.flatnonzero(rare),
        pl.Series([f"x{k}-{day}.rare-site.net" for k in range(int(rare.sum()))]),
    )
    stamps = (rng.random(count) * 86400e6).astype(np.int64) + int(
        (START + timedelta(days=day)).timestamp() * 1e6
    )
    return pl.DataFrame(
        {
            "@timestamp": pl.Series(stamps).cast(pl.Datetime("us", "UTC")),
            "organization.name": orgs.gather(rng.integers(0, 200, count)),
            "dns.question.name": names,
            "host.name": pl.Series(["h1", "h2", "h3"]).gather(rng.integers(0, 3, count)),
        }
    )


def _python_upsert(
    known: dict[tuple[str, str], list[object]], frame: pl.DataFrame
) -> dict[tuple[str, str], list[object]]:
    for org, name, stamp in frame.select(
        "organization.name", "dns.question.name", "@timestamp"
    ).iter_rows():
        parts = name.lower().rstrip(".").split(".")
        take = 3 if len(parts) >= 3 and ".".join(parts[-2:]) in MULTI_LABEL_SUFFIXES else 2
        key = (org or "default", ".".join(parts[-take:]))
        row = known.get(key)
        if row is None:
            known[key] = [stamp, stamp, 1]
        else:
            row[0] = min(row[0], stamp)  # type: ignore[type-var]
            row[1] = max(row[1], stamp)  # type: ignore[type-var]
            row[2] = row[2] + 1  # type: ignore[operator]
    return known


def bench_rarity(rng: np.random.Generator) -> None:
    history = first_seen(frame=_dns(rng, EVENTS, 0), known=empty_known()).known
    batch = _dns(rng, EVENTS, 30)
    seconds, result = _best(lambda: first_seen(frame=batch, known=history))
    sample = batch.head(max(int(EVENTS * SHARE), 1))
    start = time.perf_counter()
    reference = _python_upsert({}, sample)
    baseline = time.perf_counter() - start
    mine = first_seen(frame=sample, known=empty_known()).known
    if mine.height != len(reference) or int(mine["count"].sum()) != sum(
        int(row[2])
        for row in reference.values()  # type: ignore[call-overload]
    ):
        _fail("rarity known table differs from the dictionary upsert")
    print(
        f"# rarity: {EVENTS} events, known table {history.height} -> "
        f"{result.known.height} rows, {result.new.height} rare first-seen",  # type: ignore[attr-defined]
        file=sys.stderr,
    )
    _line("rarity_events_per_s", EVENTS / seconds, "events/s", sample.height / baseline)


def main() -> int:
    """Generate, measure, print; exit 1 when a baseline disagrees with the analytics."""
    rng = np.random.default_rng(SEED)
    print(f"# polars threads {pl.thread_pool_size()}", file=sys.stderr)
    bench_dga(rng)
    bench_beacons(rng)
    bench_rarity(rng)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
