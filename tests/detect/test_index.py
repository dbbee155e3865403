"""Compiling the index from a real node's store: live indicators in, warninglisted values out."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from sqlalchemy import select

from watchkeeper.detect import IndicatorIndex, match_column
from watchkeeper.intel import StixObject, expand, import_stix
from watchkeeper.node import Node

STAMP = "2026-01-01T00:00:00.000Z"


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


def test_index_compiled_from_the_store(node: Node, tmp_path: Path) -> None:
    objects = [
        _indicator("[domain-name:value = 'Evil-Site.ORG']"),
        _indicator("[ipv4-addr:value = '45.77.10.20' OR ipv4-addr:value = '198.51.100.7']"),
        _indicator("[ipv4-addr:value = '45.78.0.0/16']"),
        _indicator(f"[file:hashes.'SHA-256' = '{'ab' * 32}']"),
        _indicator("[domain-name:value = 'revoked-site.org']", revoked=True),
        _indicator(
            "[domain-name:value = 'expired-site.org']",
            valid_from="2025-01-01T00:00:00.000Z",
            valid_until="2025-06-01T00:00:00.000Z",
        ),
    ]
    path = tmp_path / "bundle.json"
    path.write_bytes(
        orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
    )
    report = import_stix(
        node.database, clock=node.clock, actor="user:tester", inputs=expand([str(path)]), source="t"
    )
    assert report.counts["warninglisted"] == 1  # 198.51.100.0/24 is a documentation prefix
    with node.database.reader() as session:
        seqs = dict(session.execute(select(StixObject.id, StixObject.seq)).all())
        index = IndicatorIndex.compile(session=session, now=node.clock.now())
    seq = [seqs[o["id"]] for o in objects]
    assert index.entries == 4  # domain, address, network, hash; revoked and expired left out

    def hits(values: list[str], field: str) -> list[tuple[int, str, int]]:
        found = match_column(index=index, values=pl.Series(values), field=field)
        return found.to_frame().rows()

    names = ["www.evil-site.org", "revoked-site.org", "expired-site.org", "evil-site.org."]
    assert hits(names, "domain") == [(0, "domain", seq[0]), (3, "domain", seq[0])]
    addresses = ["45.77.10.20", "198.51.100.7", "45.78.200.1"]
    assert hits(addresses, "ip") == [(0, "ipv4", seq[1]), (2, "cidr4", seq[2])]
    assert hits(["AB" * 32], "hash") == [(0, "sha256", seq[3])]
    memory = index.memory()
    assert memory.raw_value_bytes == len("evil-site.org45.77.10.2045.78.0.0/16") + 64
    assert memory.index_bytes > 0
