"""First-seen rare domains per organisation, on synthetic DNS, HTTP and TLS events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from watchkeeper.detect.rarity import (
    KNOWN_SCHEMA,
    domain_sightings,
    empty_known,
    first_seen,
    update_known,
)
from watchkeeper.errors import InvalidInput

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
ORGS = [f"org{k:02d}" for k in range(14)]
COMMON = ["google.com", "microsoft.com", "wikipedia.org", "bbc.co.uk"]


def _events(rows: list[tuple[str | None, str, datetime, str]]) -> pl.DataFrame:
    """DNS events (organisation, query name, time, host)."""
    org, name, when, host = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "@timestamp": pl.Series(list(when), dtype=pl.Datetime("us", "UTC")),
            "organization.name": list(org),
            "dns.question.name": list(name),
            "host.name": list(host),
            "event.dataset": ["zeek.dns"] * len(org),
        }
    )


def _history() -> pl.DataFrame:
    """Forty days of every organisation querying the common services."""
    rows = [
        (org, f"www.{domain}", DAY0 + timedelta(days=day, hours=9), "pc1")
        for day in range(40)
        for org in ORGS
        for domain in COMMON
    ]
    return first_seen(frame=_events(rows), known=empty_known()).known


def test_rare_first_seen_domain_is_reported_with_explanation() -> None:
    known = _history()
    at = DAY0 + timedelta(days=41, hours=10)
    rows = [
        ("org03", "login.micros0ft-support.com", at, "ws-17"),
        ("org03", "login.micros0ft-support.com", at + timedelta(minutes=1), "ws-18"),
        ("org03", "cdn.micros0ft-support.com", at + timedelta(minutes=2), "ws-17"),
        ("org03", "www.google.com", at, "ws-17"),  # known: not new
        ("org05", "fresh-news.example.fr", at, "pc9"),  # new to org05 and org07 both
        ("org07", "fresh-news.example.fr", at, "pc2"),
    ]
    result = first_seen(frame=_events(rows), known=known)
    new = result.new
    assert new["domain"].to_list() == ["micros0ft-support.com"]
    row = new.row(0, named=True)
    assert row["organization"] == "org03"
    assert row["count"] == 3
    assert row["host"] == "ws-17"
    assert row["organizations"] == 1
    assert row["total_organizations"] == 14
    assert row["explanation"] == (
        "first seen for org03 at 2026-02-11T10:00:00Z from host ws-17; "
        "seen by 1 of 14 organisations; 3 queries"
    )
    # With two organisations allowed, the shared newcomer is rare too.
    wider = first_seen(frame=_events(rows), known=known, max_organizations=2)
    assert set(wider.new["domain"]) == {"micros0ft-support.com", "example.fr"}


def test_known_table_is_upserted_with_counts() -> None:
    known = _history()
    assert known.schema == pl.Schema(KNOWN_SCHEMA)
    assert known.height == 14 * 4
    google = known.filter((pl.col("organization") == "org00") & (pl.col("domain") == "google.com"))
    assert google["count"][0] == 40
    later = DAY0 + timedelta(days=50)
    sightings = domain_sightings(
        frame=_events([("org00", "mail.google.com", later, "x"), ("org00", "new.net", later, "x")])
    )
    updated = update_known(known=known, sightings=sightings)
    assert updated.height == known.height + 1
    row = updated.filter(
        (pl.col("organization") == "org00") & (pl.col("domain") == "google.com")
    ).row(0, named=True)
    assert row["count"] == 41
    assert row["first_seen"] == DAY0 + timedelta(hours=9)
    assert row["last_seen"] == later


def test_learning_period_silences_young_organisations() -> None:
    known = _history()
    at = DAY0 + timedelta(days=41)
    rows = [
        ("newcomer", "www.google.com", at - timedelta(days=3), "a"),
        ("newcomer", "odd-domain.xyz", at, "a"),
        ("org01", "other-odd.xyz", at, "b"),
    ]
    result = first_seen(frame=_events(rows), known=known, learning_days=14)
    assert result.new["organization"].to_list() == ["org01"]
    lenient = first_seen(frame=_events(rows), known=known, learning_days=2)
    assert sorted(lenient.new["organization"]) == ["newcomer", "org01"]
    # A node's very first batch teaches and reports nothing.
    assert first_seen(frame=_events(rows), known=empty_known()).new.height == 0


def test_frequent_or_old_domains_are_not_rare() -> None:
    known = _history()
    at = DAY0 + timedelta(days=41)
    noisy = [
        ("org02", "telemetry.chatty-app.io", at + timedelta(seconds=k), "h") for k in range(50)
    ]
    assert first_seen(frame=_events(noisy), known=known).new.height == 0
    assert first_seen(frame=_events(noisy), known=known, max_count=100).new.height == 1
    # Known to another organisation long ago (outside the baseline): still rare here.
    old = pl.DataFrame(
        {
            "organization": ["org09"],
            "domain": ["vintage.org"],
            "first_seen": [DAY0 - timedelta(days=200)],
            "last_seen": [DAY0 - timedelta(days=100)],
            "count": [5],
        },
        schema=KNOWN_SCHEMA,
    )
    rows = [("org04", "vintage.org", at, "h")]
    merged = pl.concat([known, old])
    assert first_seen(frame=_events(rows), known=merged).new["organizations"].to_list() == [1]
    assert first_seen(frame=_events(rows), known=merged, baseline_days=365).new.height == 0


def test_fields_missing_organisation_and_literals() -> None:
    at = DAY0 + timedelta(days=1)
    frame = pl.DataFrame(
        {
            "@timestamp": pl.Series([at] * 5, dtype=pl.Datetime("us", "UTC")),
            "url.domain": [None, "Shop.Example.CO.UK", "192.0.2.1", None, "wpad"],
            "tls.server.name": ["api.tls-only.net", None, None, None, None],
        }
    )
    sightings = domain_sightings(frame=frame).sort("domain")
    assert sightings["domain"].to_list() == ["example.co.uk", "tls-only.net"]
    assert set(sightings["organization"]) == {"default"}
    assert sightings["count"].to_list() == [1, 1]
    naive = frame.with_columns(pl.col("@timestamp").dt.replace_time_zone(None))
    assert domain_sightings(frame=naive)["first_seen"].dtype == pl.Datetime("us", "UTC")
    with pytest.raises(InvalidInput, match=r"dns\.question\.name"):
        domain_sightings(frame=frame.drop("url.domain", "tls.server.name"))
    with pytest.raises(InvalidInput, match="lacks the column"):
        first_seen(frame=frame, known=pl.DataFrame({"organization": ["x"]}))
    with pytest.raises(InvalidInput, match="@timestamp"):
        domain_sightings(frame=frame.drop("@timestamp"))


def test_empty_batch_keeps_the_known_table() -> None:
    known = _history()
    result = first_seen(frame=_events([("org01", "x.com", DAY0, "h")]).clear(), known=known)
    assert result.known.equals(known)
    assert result.new.height == 0
    assert "explanation" in result.new.columns
