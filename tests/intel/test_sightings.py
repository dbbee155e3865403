"""Sightings and false-positive reports: stored as STIX, audited, scored, shown and exported."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select
from stix_samples import bundle, indicator

from watchkeeper.bus import read_events
from watchkeeper.cli import cli
from watchkeeper.core import FixedClock
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.intel import (
    ExportFilters,
    StixObject,
    explain_score,
    export,
    intel_stats,
    lookup,
    record_sighting,
    report_false_positive,
)
from watchkeeper.node import Node
from watchkeeper.security import list_entries
from watchkeeper.testing import issue_token
from watchkeeper.web import create_app

FRESH = "indicator--0b0b0b0b-0000-4000-8000-000000000001"
OLD = "indicator--0b0b0b0b-0000-4000-8000-000000000002"
ENDED = "indicator--0b0b0b0b-0000-4000-8000-000000000003"
NET = "indicator--0b0b0b0b-0000-4000-8000-000000000004"
LONG_AGO = "2025-06-01T00:00:00.000Z"  # the test clock stands at 2026-01-15


@pytest.fixture
def stored(node: Node, write: Any, ingest: Any) -> Node:
    ingest(
        write(
            bundle(
                indicator("[ipv4-addr:value = '45.155.205.7']", id=FRESH, confidence=80),
                indicator(
                    "[ipv4-addr:value = '45.155.205.8']",
                    id=OLD,
                    created=LONG_AGO,
                    modified=LONG_AGO,
                    valid_from=LONG_AGO,
                ),
                indicator(
                    "[domain-name:value = 'gone-evil-site.org']",
                    id=ENDED,
                    valid_from=LONG_AGO,
                    valid_until="2025-12-31T00:00:00.000Z",
                ),
                indicator("[ipv4-addr:value = '45.155.205.0/24']", id=NET),
            )
        ),
        source="feed:demo",
    )
    return node


def _row(node: Node, value: str, identifier: str) -> dict[str, Any]:
    with node.database.reader() as session:
        rows = lookup(session, value=value, now=node.clock.now())
    [row] = [r for r in rows if r["id"] == identifier]
    return row


def _texts(node: Node, **filters: Any) -> tuple[list[str], dict[str, int]]:
    target = io.BytesIO()
    report = export(
        node.database,
        clock=node.clock,
        actor="user:tester",
        format="text",
        target=target,
        filters=ExportFilters(**filters),
    )
    return target.getvalue().decode().split(), report.skipped


def test_sighting_by_value_is_stored_as_stix_and_audited(stored: Node) -> None:
    recorded = record_sighting(
        stored.database,
        clock=stored.clock,
        actor="user:amira",
        value="45.155.205.7",
        count=3,
        where="identity--0c0c0c0c-0000-4000-8000-000000000001",
    )
    assert set(recorded.indicators) == {FRESH, NET}  # the address and its network
    with stored.database.reader() as session:
        docs = [
            orjson.loads(doc)
            for doc in session.scalars(select(StixObject.doc).where(StixObject.type == "sighting"))
        ]
        [entry] = list_entries(session, action="intel.sighting")
        [event] = read_events(session, types=["intel.sighting"])
    assert {d["sighting_of_ref"] for d in docs} == {FRESH, NET}
    assert all(d["count"] == 3 and d["where_sighted_refs"] for d in docs)
    assert entry.actor == "user:amira" and entry.detail["count"] == 3
    assert set(event.payload["indicators"]) == {FRESH, NET}
    row = _row(stored, "45.155.205.7", FRESH)
    assert (row["sightings"], row["false_positives"]) == (3, 0)
    assert row["score"] == 80.0  # (80 + 50) / 2 + 3 × 5 sighting points


def test_sighting_revives_a_decayed_indicator(stored: Node) -> None:
    assert _row(stored, "45.155.205.8", OLD)["score"] == 0  # 228 days old, ipv4 lives 30
    record_sighting(stored.database, clock=stored.clock, actor="user:a", indicator_id=OLD)
    assert _row(stored, "45.155.205.8", OLD)["score"] == 55.0


def test_false_positive_from_this_node_zeroes_the_score(stored: Node) -> None:
    recorded = report_false_positive(
        stored.database,
        clock=stored.clock,
        actor="user:amira",
        indicator_id=FRESH,
        reason="our own mail relay",
    )
    with stored.database.reader() as session:
        [doc] = session.scalars(select(StixObject.doc).where(StixObject.type == "opinion"))
        [entry] = list_entries(session, action="intel.false_positive")
        explained = explain_score(session, target=FRESH, now=stored.clock.now())
    opinion = orjson.loads(doc)
    assert (opinion["opinion"], opinion["object_refs"]) == ("strongly-disagree", [FRESH])
    assert "our own mail relay" in opinion["explanation"]
    assert entry.subject == FRESH and recorded.objects == (opinion["id"],)
    row = _row(stored, "45.155.205.7", FRESH)
    assert (row["score"], row["false_positives"]) == (0, 1)
    assert explained[0]["false_positive_factor"] == 0 and explained[0]["decayed"]


def test_nothing_to_sight_or_bad_input(stored: Node) -> None:
    with pytest.raises(NotFound):
        record_sighting(stored.database, clock=stored.clock, actor="a", value="192.0.2.99")
    with pytest.raises(InvalidInput):
        record_sighting(stored.database, clock=stored.clock, actor="a", value="x", count=0)
    with pytest.raises(InvalidInput):
        report_false_positive(
            stored.database, clock=stored.clock, actor="a", indicator_id=FRESH, reason=" "
        )


def test_exports_leave_out_expired_and_low_scores(stored: Node) -> None:
    values, skipped = _texts(stored)
    assert values == ["45.155.205.0/24", "45.155.205.7"]
    assert skipped["expired"] == 2  # decayed OLD, past valid_until ENDED
    everything, _ = _texts(stored, include_expired=True)
    assert "gone-evil-site.org" in everything and "45.155.205.8" in everything
    strict, skipped = _texts(stored, min_score=60)
    assert strict == ["45.155.205.7"] and skipped["below_min_score"] == 1
    with pytest.raises(InvalidInput):
        _texts(stored, min_score=101)
    with stored.database.reader() as session:
        counts = intel_stats(session, now=stored.clock.now())["indicators"]
    assert counts == {"live": 2, "expired": 1, "decayed": 1}
    assert isinstance(stored.clock, FixedClock)
    stored.clock.advance(timedelta(days=400))
    assert _texts(stored)[0] == []


def test_cli_sighting_false_positive_score_export(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, write: Any
) -> None:
    monkeypatch.setenv("WATCHKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", database_url)
    runner = CliRunner()
    path = write(bundle(indicator("[ipv4-addr:value = '45.155.205.7']", id=FRESH)))
    assert runner.invoke(cli, ["intel", "import", str(path)]).exit_code == 0
    sighted = runner.invoke(
        cli, ["intel", "sighting", "45.155.205.7", "--count", "2", "--where", "DMZ", "--json"]
    )
    assert sighted.exit_code == 0, sighted.output
    assert json.loads(sighted.stdout)["indicators"] == [FRESH]
    scored = runner.invoke(cli, ["intel", "score", FRESH, "--json"])
    assert scored.exit_code == 0, scored.output
    [explained] = json.loads(scored.stdout)
    assert (explained["sightings"], explained["sighting_points"]) == (2, 10.0)
    text = runner.invoke(cli, ["intel", "score", "45.155.205.7"])
    assert "base" in text.stdout and "decay" in text.stdout
    listed = runner.invoke(cli, ["intel", "export", "--format", "text", "--min-score", "100"])
    assert listed.stdout == "" and "below_min_score" in listed.stderr
    flagged = runner.invoke(
        cli, ["intel", "false-positive", FRESH, "--reason", "sinkhole", "--json"]
    )
    assert flagged.exit_code == 0, flagged.output
    assert json.loads(flagged.stdout)["action"] == "intel.false_positive"
    missing = runner.invoke(cli, ["intel", "false-positive", "192.0.2.1", "--reason", "x"])
    assert isinstance(missing.exception, NotFound)
    assert runner.invoke(cli, ["intel", "false-positive", FRESH]).exit_code == 2  # --reason


def test_api_sightings_false_positives_and_score(stored: Node) -> None:
    client = TestClient(create_app(node=stored))
    analyst = {"Authorization": f"Bearer {issue_token(stored, name='amira', roles=['analyst'])}"}
    auditor = {"Authorization": f"Bearer {issue_token(stored, name='ledger', roles=['auditor'])}"}
    sighted = client.post(
        "/api/v1/intel/sightings", json={"target": FRESH, "count": 2}, headers=analyst
    )
    assert sighted.status_code == 201, sighted.text
    assert sighted.json()["indicators"] == [FRESH]
    refused = client.post("/api/v1/intel/sightings", json={"target": FRESH}, headers=auditor)
    assert refused.status_code == 403
    scored = client.get("/api/v1/intel/score", params={"value": FRESH}, headers=analyst)
    assert scored.status_code == 200 and scored.json()[0]["sightings"] == 2
    flagged = client.post(
        "/api/v1/intel/false-positives",
        json={"target": "45.155.205.7", "reason": "CDN"},
        headers=analyst,
    )
    assert flagged.status_code == 201, flagged.text
    found = client.get("/api/v1/intel/lookup", params={"value": "45.155.205.7"}, headers=analyst)
    scores = {hit["id"]: hit["score"] for hit in found.json()}
    assert scores[FRESH] == 0 and scores[NET] == 0
    none = client.get("/api/v1/intel/score", params={"value": "192.0.2.1"}, headers=analyst)
    assert none.status_code == 404
    page = client.get("/ui/intel", params={"q": "45.155.205.7"}, headers=analyst)
    assert page.status_code in (200, 303)
