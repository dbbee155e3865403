"""Beacon scoring on synthetic connection logs: a timed implant among people and noise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from watchkeeper.detect.beacons import beacon_scores
from watchkeeper.errors import InvalidInput

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
BEACON = ("10.0.0.66", "203.0.113.7", "443")


def _frame(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    """Connections from (source, destination, port, seconds after START)."""
    src, dst, port, seconds = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "@timestamp": pl.Series(
                [START + timedelta(seconds=s) for s in seconds], dtype=pl.Datetime("us", "UTC")
            ),
            "source.ip": list(src),
            "destination.ip": list(dst),
            "destination.port": list(port),
            "network.transport": ["tcp"] * len(src),
        }
    ).sample(fraction=1.0, shuffle=True, seed=3)  # readers give no order guarantee


def _beacon(rng: np.random.Generator, *, period: float, jitter: float, count: int) -> list[float]:
    return list(np.cumsum(period * (1 + rng.uniform(-jitter, jitter, count))))


def _people(rng: np.random.Generator, pairs: int) -> list[tuple[str, str, str, float]]:
    """Browsing: sessions of bursty connections at random moments of a working day."""
    rows = []
    for k in range(pairs):
        src, dst = f"10.0.1.{k % 200}", f"198.51.100.{k % 250}"
        for _ in range(rng.integers(1, 6)):
            at = rng.uniform(0, 8 * 3600)
            burst = at + np.cumsum(rng.exponential(4.0, rng.integers(3, 15)))
            rows += [(src, dst, "443", float(t)) for t in burst]
    return rows


def test_beacon_with_jitter_stands_out_among_people() -> None:
    rng = np.random.default_rng(7)
    times = _beacon(rng, period=60.0, jitter=0.05, count=120)
    rows = [(*BEACON, t) for t in times] + _people(rng, 300)
    scores = beacon_scores(frame=_frame(rows))
    top = scores.row(0, named=True)
    assert (top["source.ip"], top["destination.ip"], top["destination.port"]) == BEACON
    assert top["score"] > 0.8
    assert top["connections"] == 120
    assert top["median_interval_s"] == pytest.approx(60, rel=0.03)
    assert top["jitter"] < 0.05
    assert "120 connections every 60" in top["explanation"]
    assert "over 2 h" in top["explanation"] or "over 1" in top["explanation"]
    others = scores.slice(1)
    assert others.height > 50
    assert others["score"].max() < 0.4
    assert all(scores["explanation"].str.len_chars() > 20)


def test_poisson_traffic_scores_low() -> None:
    rng = np.random.default_rng(11)
    rows = []
    for k in range(40):
        times = np.cumsum(rng.exponential(60.0, 100))
        rows += [(f"10.0.2.{k}", "192.0.2.10", "80", float(t)) for t in times]
    scores = beacon_scores(frame=_frame(rows))
    assert scores.height == 40
    assert scores["score"].max() < 0.3
    assert scores["score"].median() < 0.1


def test_missed_beats_do_not_hide_a_beacon() -> None:
    rng = np.random.default_rng(5)
    times = _beacon(rng, period=300.0, jitter=0.03, count=60)
    kept = [t for k, t in enumerate(times) if k % 7 != 3]  # about one beat in seven lost
    scores = beacon_scores(frame=_frame([(*BEACON, t) for t in kept]))
    row = scores.row(0, named=True)
    assert row["score"] > 0.75
    assert row["missed_beats"] >= 7
    assert "missed beats" in row["explanation"]
    assert row["median_interval_s"] == pytest.approx(300, rel=0.03)


def test_double_connections_per_beat_are_merged() -> None:
    rng = np.random.default_rng(9)
    times = _beacon(rng, period=30.0, jitter=0.02, count=50)
    rows = [(*BEACON, t) for t in times] + [(*BEACON, t + 0.2) for t in times]
    row = beacon_scores(frame=_frame(rows)).row(0, named=True)
    assert row["connections"] == 100
    assert row["median_interval_s"] == pytest.approx(30, rel=0.03)
    assert row["score"] > 0.8


def test_window_min_connections_and_min_score() -> None:
    rng = np.random.default_rng(1)
    times = _beacon(rng, period=60.0, jitter=0.01, count=100)
    frame = _frame([(*BEACON, t) for t in times] + [("10.9.9.9", "192.0.2.1", "53", 5.0)] * 3)
    assert beacon_scores(frame=frame).height == 1  # 3 connections: under min_connections
    recent = beacon_scores(frame=frame, window=timedelta(minutes=20))
    assert recent["connections"][0] in (19, 20, 21)
    assert beacon_scores(frame=frame, min_connections=200).height == 0
    assert beacon_scores(frame=frame, min_score=0.99).height == 0


def test_bad_frames_are_refused() -> None:
    frame = _frame([(*BEACON, float(t)) for t in range(10)])
    with pytest.raises(InvalidInput, match=r"destination\.port"):
        beacon_scores(frame=frame.drop("destination.port"))
    with pytest.raises(InvalidInput, match="datetime"):
        beacon_scores(frame=frame.with_columns(pl.col("@timestamp").cast(pl.String)))
    with pytest.raises(InvalidInput, match="min_connections"):
        beacon_scores(frame=frame, min_connections=1)
    empty = beacon_scores(frame=frame.clear())
    assert empty.height == 0
    assert "explanation" in empty.columns
