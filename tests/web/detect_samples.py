"""Alerts for the web tests, raised the way detection raises them: a STIX indicator imported,
telemetry matched through the live index, hits written by ``write_alerts``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
from sqlalchemy import select

from watchkeeper.detect.alerts import write_alerts
from watchkeeper.detect.hits import indicator_hits
from watchkeeper.detect.live import LiveIndex
from watchkeeper.detect.models import Alert
from watchkeeper.intel import expand, import_stix
from watchkeeper.node import Node

STAMP = "2026-01-01T00:00:00.000Z"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TLP_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


@dataclass
class Sample:
    indicator: str  # the C2 domain's indicator id
    ws1: str  # its alert on ws1 (two lines)
    ws2: str  # its alert on ws2
    red: str  # a TLP:RED indicator's alert on ws3


def seed_alerts(node: Node, tmp_path: Path) -> Sample:
    """Three alerts of two indicators on three hosts; one of them TLP:RED."""
    evil = {
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
        "created": STAMP, "modified": STAMP, "valid_from": STAMP, "pattern_type": "stix",
        "pattern": "[domain-name:value = 'evil-site.org']", "name": "C2 <domain>",
        "confidence": 85,
    }  # fmt: skip
    red = {**evil, "id": f"indicator--{uuid.uuid4()}", "name": "Tasking server",
           "pattern": "[ipv4-addr:value = '45.77.10.20']",
           "object_marking_refs": [TLP_RED]}  # fmt: skip
    path = tmp_path / "detect-intel.json"
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [evil, red]}
    path.write_bytes(orjson.dumps(bundle))
    import_stix(
        node.database, clock=node.clock, actor="user:t", inputs=expand([str(path)]), source="feedA"
    )
    with node.database.reader() as session:
        live = LiveIndex.build(session=session, now=node.clock.now())
    frame = pl.DataFrame(
        {
            "@timestamp": [T0 + timedelta(minutes=m) for m in (0, 3, 7, 9)],
            "dns.question.name": ["a.evil-site.org", "evil-site.org", "evil-site.org", None],
            "source.ip": [None, None, None, "45.77.10.20"],
            "host.name": ["ws1", "ws1", "ws2", "ws3"],
            "log.file.path": ["dns.log"] * 4,
            "log.file.line": [9, 10, 11, 12],
        },
        schema_overrides={"@timestamp": pl.Datetime("us", "UTC")},
    )
    with node.database.transaction() as session:
        hits = indicator_hits(session=session, live=live, frame=frame)
        write_alerts(session, clock=node.clock, actor="detect", hits=hits, frame=frame,
                     window=timedelta(hours=1))  # fmt: skip
    with node.database.reader() as session:
        ids = {str(host): str(i) for host, i in session.execute(select(Alert.host, Alert.id))}
    return Sample(indicator=str(evil["id"]), ws1=ids["ws1"], ws2=ids["ws2"], red=ids["ws3"])
