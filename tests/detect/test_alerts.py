"""Indicator hits become aggregated alerts, sightings and events; the live index refreshes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from sqlalchemy import func, select

from watchkeeper.bus.models import Event
from watchkeeper.detect.alerts import write_alerts
from watchkeeper.detect.hits import indicator_hits
from watchkeeper.detect.live import LiveIndex
from watchkeeper.detect.models import MAX_LINES, Alert, AlertLine
from watchkeeper.intel import StixObject, expand, import_stix, report_false_positive
from watchkeeper.node import Node

STAMP = "2026-01-01T00:00:00.000Z"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": STAMP,
        "modified": STAMP,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": STAMP,
        **extra,
    }


def _import(node: Node, tmp_path: Path, objects: list[dict[str, Any]]) -> None:
    path = tmp_path / f"{uuid.uuid4()}.json"
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    path.write_bytes(orjson.dumps(bundle))
    import_stix(
        node.database, clock=node.clock, actor="user:t", inputs=expand([str(path)]), source="t"
    )


def _dns(names: list[str], hosts: list[str], minutes: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "@timestamp": [T0 + timedelta(minutes=m) for m in minutes],
            "dns.question.name": names,
            "host.name": hosts,
            "log.file.path": ["dns.log"] * len(names),
            "log.file.line": list(range(9, 9 + len(names))),
        },
        schema_overrides={"@timestamp": pl.Datetime("us", "UTC")},
    )


def test_hits_aggregate_into_alerts_with_sightings_and_events(node: Node, tmp_path: Path) -> None:
    evil = _indicator("[domain-name:value = 'evil-site.org']", name="C2 domain", confidence=85)
    _import(node, tmp_path, [evil])
    with node.database.reader() as session:
        live = LiveIndex.build(session=session, now=node.clock.now())
    names = [
        "a.evil-site.org",
        "good-site.org",
        "evil-site.org",
        "x.evil-site.org",
        "evil-site.org",
    ]
    frame = _dns(names, ["ws1", "ws1", "ws1", "ws2", "ws1"], [0, 1, 5, 7, 75])
    with node.database.transaction() as session:
        hits = indicator_hits(session=session, live=live, frame=frame)
        assert hits["line"].to_list() == [9, 11, 12, 13]
        counts = write_alerts(
            session, clock=node.clock, actor="detect", hits=hits, frame=frame,
            window=timedelta(hours=1),
        )  # fmt: skip
    assert (counts.new, counts.updated, counts.sightings) == (3, 0, 3)
    with node.database.reader() as session:
        alerts = session.scalars(select(Alert).order_by(Alert.host, Alert.window_start)).all()
        assert [(a.host, a.count, a.severity) for a in alerts] == [
            ("ws1", 2, "high"), ("ws1", 1, "high"), ("ws2", 1, "high")
        ]  # fmt: skip
        assert (
            alerts[0].indicator_id == evil["id"] and alerts[0].title == "Indicator hit: C2 domain"
        )
        lines = session.scalars(select(AlertLine).where(AlertLine.alert_id == alerts[0].id)).all()
        assert [(line.source, line.line) for line in lines] == [("dns.log", 9), ("dns.log", 11)]
        assert lines[0].event["dns.question.name"] == "a.evil-site.org"
        sightings = session.scalars(
            select(StixObject.doc).where(StixObject.type == "sighting")
        ).all()
        assert sorted(orjson.loads(doc)["count"] for doc in sightings) == [1, 1, 2]
        events = session.scalars(select(Event.type).where(Event.type == "detect.alert")).all()
        assert len(events) == 3

    # the same window again: counts grow, no new alert, lines capped
    more = _dns(["evil-site.org"] * 30, ["ws1"] * 30, [10] * 30)
    with node.database.transaction() as session:
        hits = indicator_hits(session=session, live=live, frame=more)
        counts = write_alerts(
            session, clock=node.clock, actor="detect", hits=hits, frame=more,
            window=timedelta(hours=1),
        )  # fmt: skip
    assert (counts.new, counts.updated) == (0, 1)
    with node.database.reader() as session:
        alert = session.scalars(select(Alert).where(Alert.count == 32)).one()
        kept = session.scalar(
            select(func.count()).select_from(AlertLine).where(AlertLine.alert_id == alert.id)
        )
        assert kept == MAX_LINES


def test_live_index_takes_in_new_replaced_and_false_positive_indicators(
    node: Node, tmp_path: Path
) -> None:
    first = _indicator("[ipv4-addr:value = '45.77.10.20']")
    _import(node, tmp_path, [first])
    with node.database.reader() as session:
        live = LiveIndex.build(session=session, now=node.clock.now())
    frame = pl.DataFrame({"source.ip": ["45.77.10.20", "45.77.10.21", "45.77.99.1"]})

    def matched() -> list[int]:
        return live.match(frame=frame, fields={"source.ip": "ip"})["row"].to_list()

    assert matched() == [0]
    second = _indicator("[ipv4-addr:value = '45.77.10.21']")
    replaced = {**first, "modified": "2026-02-01T00:00:00.000Z",
                "pattern": "[ipv4-addr:value = '45.77.0.0/16']"}  # fmt: skip
    _import(node, tmp_path, [second, replaced])
    with node.database.reader() as session:
        refresh = live.refresh(session=session, now=node.clock.now())
    assert not refresh.rebuilt and refresh.retired == 1
    assert sorted(matched()) == [0, 1, 1, 2]  # row 1: its address and the new network
    report_false_positive(
        node.database, clock=node.clock, actor="user:t", reason="ours",
        indicator_id=second["id"],
    )  # fmt: skip
    with node.database.reader() as session:
        live.refresh(session=session, now=node.clock.now())
    assert sorted(matched()) == [0, 1, 2]
    with node.database.reader() as session:
        unchanged = live.refresh(session=session, now=node.clock.now())
        assert unchanged.high_seq == live.high_seq
        rebuilt = live.refresh(session=session, now=node.clock.now() + timedelta(hours=1))
    assert rebuilt.rebuilt and sorted(matched()) == [0, 1, 2]
