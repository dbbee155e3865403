"""The scoring model as pure functions on a fixed clock: decay, expiry, reliability, feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper.config import load_settings
from watchkeeper.intel.scoring import (
    Evidence,
    Feedback,
    ScoringPolicy,
    Sighted,
    decay,
    reliability,
    score,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
POLICY = ScoringPolicy(reliability={"feed:good": 90, "peer:": 70, "peer:XX-BAD": 10})


def _evidence(age_days: float = 0, **changes: object) -> Evidence:
    values: dict[str, object] = {
        "confidence": 50,
        "sources": ("files:x",),
        "kinds": ("ipv4",),
        "modified": NOW - timedelta(days=age_days),
    }
    values.update(changes)
    return Evidence(**values)  # type: ignore[arg-type]


def test_polynomial_decay_curve_points() -> None:
    assert decay(0, 30, 0.3) == 1.0
    assert decay(15, 30, 1.0) == pytest.approx(0.5)  # speed 1: linear
    assert decay(15, 30, 0.3) == pytest.approx(1 - 0.5 ** (1 / 0.3))  # holds, then falls
    assert decay(15, 30, 2.0) == pytest.approx(1 - 0.5**0.5)  # falls early
    assert decay(30, 30, 0.3) == 0.0
    assert decay(45, 30, 0.3) == 0.0  # floored, never negative


def test_score_decays_over_the_kind_lifetime() -> None:
    fresh = score(_evidence(0), policy=POLICY, now=NOW)
    assert (fresh.base, fresh.value, fresh.lifetime_days) == (50.0, 50.0, 30)
    half = score(_evidence(15), policy=POLICY, now=NOW)
    assert half.value == pytest.approx(50 * (1 - 0.5 ** (1 / 0.3)))
    gone = score(_evidence(30), policy=POLICY, now=NOW)
    assert gone.value == 0 and gone.decayed and not gone.expired
    hash_kind = score(_evidence(30, kinds=("sha256",)), policy=POLICY, now=NOW)
    assert hash_kind.lifetime_days == 3650 and hash_kind.value > 49
    mixed = score(_evidence(30, kinds=("ipv4", "domain")), policy=POLICY, now=NOW)
    assert mixed.lifetime_days == 180  # the longest-lived value
    future = score(_evidence(-3), policy=POLICY, now=NOW)
    assert future.value == 50.0  # a valid_from ahead of the clock is not aged


def test_valid_until_sets_the_lifetime_and_expiry() -> None:
    start = NOW - timedelta(days=5)
    live = score(
        _evidence(valid_from=start, valid_until=NOW + timedelta(days=5)), policy=POLICY, now=NOW
    )
    assert live.lifetime_days == 10 and live.value == pytest.approx(50 * (1 - 0.5 ** (1 / 0.3)))
    ended = score(_evidence(valid_from=start, valid_until=NOW), policy=POLICY, now=NOW)
    assert ended.expired and ended.value == 0 and not ended.decayed


def test_reliability_takes_the_best_source_and_longest_key() -> None:
    assert reliability(["feed:other"], POLICY) == (50, "feed:other")
    assert reliability(["feed:good", "peer:QA-NCSA"], POLICY) == (90, "feed:good")
    assert reliability(["peer:QA-NCSA"], POLICY) == (70, "peer:QA-NCSA")
    assert reliability(["peer:XX-BAD"], POLICY) == (10, "peer:XX-BAD")  # exact beats prefix
    assert reliability([], POLICY) == (50, None)
    result = score(_evidence(confidence=None, sources=("feed:good",)), policy=POLICY, now=NOW)
    assert (result.confidence, result.reliability, result.base) == (50, 90, 70.0)


def test_sightings_raise_the_base_up_to_the_cap_and_renew_the_clock() -> None:
    seen = Feedback(sightings=[Sighted(2, NOW - timedelta(days=1))])
    two = score(_evidence(29, feedback=seen), policy=POLICY, now=NOW)
    assert (two.sighting_points, two.base) == (10.0, 60.0)
    assert two.age_days == pytest.approx(1)  # t runs from the last sighting
    many = Feedback(sightings=[Sighted(50, NOW), Sighted(3, NOW - timedelta(days=400))])
    capped = score(_evidence(feedback=many), policy=POLICY, now=NOW)
    assert (capped.sighting_points, capped.recent_sightings, capped.sightings) == (25.0, 50, 53)
    top = score(
        _evidence(confidence=100, sources=("feed:good",), feedback=many), policy=POLICY, now=NOW
    )
    assert top.base == 100.0  # never above 100


def test_false_positives_halve_or_zero_the_score() -> None:
    one = Feedback(false_positives=[("peer:QA-NCSA",)])
    assert score(_evidence(feedback=one), policy=POLICY, now=NOW).value == 25.0
    two = Feedback(false_positives=[("peer:A",), ("peer:B",)])
    assert score(_evidence(feedback=two), policy=POLICY, now=NOW).value == 12.5
    local = Feedback(false_positives=[("local:sightings",)])
    zeroed = score(_evidence(feedback=local), policy=POLICY, now=NOW)
    assert zeroed.value == 0 and zeroed.decayed and zeroed.document()["false_positives"] == 1


def test_policy_from_settings_merges_lifetimes(tmp_path: object) -> None:
    settings = load_settings(
        intel_lifetimes={"ipv4": 7},
        intel_source_reliability={"feed:abuse": 80},
        intel_decay_speed=1.0,
    )
    policy = ScoringPolicy.from_settings(settings)
    assert policy.lifetimes["ipv4"] == 7 and policy.lifetimes["sha256"] == 3650
    assert policy.reliability == {"feed:abuse": 80} and policy.speed == 1.0
