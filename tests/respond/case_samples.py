"""Alerts for the case tests, raised as detection raises them: indicators imported, telemetry
matched through the live index, hits written by ``write_alerts``."""

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

CREATED = "2026-01-02T00:00:00.000Z"
START = datetime(2026, 1, 14, 22, 0, tzinfo=UTC)
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


@dataclass
class Seeded:
    domain_indicator: str  # secure-login-portal.net indicator
    ip_indicator: str  # 185.220.101.47, TLP:RED
    laptop: str  # domain alert on laptop-7 (three hits)
    server: str  # domain alert on 10.1.2.3
    red: str  # the RED address alert on db-1


def seed(node: Node, tmp_path: Path) -> Seeded:
    """Two indicators, three alerts on three hosts; the address indicator is TLP:RED."""
    domain = {
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
        "created": CREATED, "modified": CREATED, "valid_from": CREATED, "pattern_type": "stix",
        "pattern": "[domain-name:value = 'secure-login-portal.net']", "name": "Phishing kit",
        "confidence": 90,
    }  # fmt: skip
    address = {**domain, "id": f"indicator--{uuid.uuid4()}", "name": "Exfil server",
               "pattern": "[ipv4-addr:value = '185.220.101.47']",
               "object_marking_refs": [RED]}  # fmt: skip
    bundle = tmp_path / "case-intel.json"
    bundle.write_bytes(
        orjson.dumps(
            {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [domain, address]}
        )
    )
    import_stix(node.database, clock=node.clock, actor="user:seed", inputs=expand([str(bundle)]),
                source="feedX")  # fmt: skip
    with node.database.reader() as session:
        live = LiveIndex.build(session=session, now=node.clock.now())
    frame = pl.DataFrame(
        {
            "@timestamp": [START + timedelta(minutes=m) for m in (1, 5, 20, 30, 40)],
            "dns.question.name": ["secure-login-portal.net", "www.secure-login-portal.net",
                                  "secure-login-portal.net", "secure-login-portal.net", None],
            "destination.ip": [None, None, None, None, "185.220.101.47"],
            "host.name": ["laptop-7", "laptop-7", "laptop-7", "10.1.2.3", "db-1"],
            "log.file.path": ["dns.log"] * 4 + ["conn.log"],
            "log.file.line": [3, 4, 5, 6, 7],
        },
        schema_overrides={"@timestamp": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    with node.database.transaction() as session:
        hits = indicator_hits(session=session, live=live, frame=frame)
        write_alerts(session, clock=node.clock, actor="detect", hits=hits, frame=frame,
                     window=timedelta(hours=1))  # fmt: skip
    with node.database.reader() as session:
        ids = {str(row[0]): str(row[1]) for row in session.execute(select(Alert.host, Alert.id))}
    return Seeded(
        domain_indicator=str(domain["id"]),
        ip_indicator=str(address["id"]),
        laptop=ids["laptop-7"],
        server=ids["10.1.2.3"],
        red=ids["db-1"],
    )
