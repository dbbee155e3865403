"""Importing STIX: versions, rejects with their place, idempotence, provenance, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from stix_samples import STAMP, bundle, indicator

from watchkeeper.bus import read_events
from watchkeeper.intel import ImportRun, IndicatorValue, Provenance, StixObject, intel_stats
from watchkeeper.intel import bundles as bundles_module
from watchkeeper.intel import imports as imports_module
from watchkeeper.node import Node
from watchkeeper.security import list_entries


def _objects(node: Node) -> list[StixObject]:
    with node.database.reader() as session:
        return list(session.scalars(select(StixObject).order_by(StixObject.seq)))


def test_import_stores_indexes_and_reports(node: Node, write: Any, ingest: Any) -> None:
    custom = {
        "type": "x-acme-thing",
        "id": "x-acme-thing--6f0a2a4e-6a8f-4bd5-9d0c-3b3d47a2e6d1",
        "spec_version": "2.1",
        "created": STAMP,
        "modified": STAMP,
        "x_acme": {"deep": [1]},
    }
    path = write(
        bundle(
            indicator("[ipv4-addr:value = '198.51.100.7']", confidence=80),
            indicator("[domain-name:value = 'Evil-Site.ORG']"),
            custom,
        )
    )
    report = ingest(path)
    assert report.counts == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "warninglisted": 1,
    }  # 198.51.100.0/24 is a documentation prefix
    stored = _objects(node)
    assert [o.type for o in stored] == ["indicator", "indicator", "x-acme-thing"]
    assert all(o.current for o in stored)
    assert orjson.loads(stored[2].doc) == custom  # unknown types kept verbatim
    assert stored[0].confidence == 80
    with node.database.reader() as session:
        values = session.execute(
            select(IndicatorValue.kind, IndicatorValue.value, IndicatorValue.warninglists).order_by(
                IndicatorValue.id
            )
        ).all()
        assert session.scalar(select(func.count()).select_from(Provenance)) == 3
        run = session.get_one(ImportRun, report.id)
        assert (run.status, run.counts["created"]) == ("done", 3)
        [entry] = list_entries(session, action="intel.import")
        [event] = read_events(session, types=["intel.import"])
    assert values[0][:2] == ("ipv4", "198.51.100.7")
    assert values[0][2]  # the names of the lists it hits
    assert values[1] == ("domain", "evil-site.org", None)
    assert entry.detail["created"] == 3
    assert event.payload["created"] == 3


def test_reimport_is_unchanged_and_adds_provenance(node: Node, write: Any, ingest: Any) -> None:
    path = write(bundle(indicator("[ipv4-addr:value = '203.0.113.9']")))
    ingest(path, source="feed:one")
    again = ingest(path, source="feed:two")
    assert (again.created, again.unchanged) == (0, 1)
    with node.database.reader() as session:
        assert session.scalar(select(func.count()).select_from(StixObject)) == 1
        assert session.scalar(select(func.count()).select_from(Provenance)) == 2


def test_new_version_becomes_current(node: Node, write: Any, ingest: Any) -> None:
    first = indicator("[ipv4-addr:value = '192.0.2.1']")
    ingest(write(bundle(first), "v1.json"))
    newer = {
        **first,
        "modified": "2026-03-02T00:00:00Z",
        "pattern": "[ipv4-addr:value = '192.0.2.2']",
    }
    older = {**first, "modified": "2026-02-01T00:00:00.5Z"}
    report = ingest(write(bundle(newer, older), "v2.json"))
    assert (report.created, report.updated) == (0, 2)
    versions = {o.modified: o.current for o in _objects(node)}
    assert versions == {
        "2026-03-01T10:00:00.000000Z": False,
        "2026-03-02T00:00:00.000000Z": True,
        "2026-02-01T00:00:00.500000Z": False,
    }


def test_same_version_with_other_content_is_rejected(node: Node, write: Any, ingest: Any) -> None:
    original = indicator("[ipv4-addr:value = '192.0.2.1']")
    ingest(write(bundle(original), "a.json"))
    forged = {**original, "modified": "2026-03-01T10:00:00Z", "name": "changed"}  # same instant
    report = ingest(
        write(bundle(indicator("[domain-name:value = 'ok.example']"), forged), "b.json")
    )
    assert (report.created, report.rejected) == (1, 1)
    [reject] = report.rejects
    assert (reject.index, reject.id) == (1, original["id"])
    assert reject.file.endswith("b.json")
    assert "different object" in reject.reason


def test_invalid_objects_are_rejected_and_the_rest_lands(
    node: Node, write: Any, ingest: Any
) -> None:
    good = indicator("[domain-name:value = 'fine.example']")
    bad = [
        {"type": "indicator", "id": "indicator--not-a-uuid", "created": STAMP, "modified": STAMP},
        indicator("[ipv4-addr:value = "),
        indicator("[domain-name:value = 'x.example']", confidence=101),
        {**indicator("[domain-name:value = 'y.example']"), "modified": "yesterday"},
        "a string, not an object",
    ]
    report = ingest(write(bundle(bad[0], good, *bad[1:])))
    assert (report.created, report.rejected) == (1, 5)
    reasons = {r.index: r.reason for r in report.rejects}
    assert sorted(reasons) == [0, 2, 3, 4, 5]
    assert "id" in reasons[0]
    assert "pattern" in reasons[2]
    assert "confidence" in reasons[3]
    assert "modified" in reasons[4]
    assert "not a JSON object" in reasons[5]
    assert [o.id for o in _objects(node)] == [good["id"]]


def test_unreducible_patterns_are_kept_and_flagged(node: Node, write: Any, ingest: Any) -> None:
    report = ingest(
        write(
            bundle(
                indicator("[process:name = 'evil.exe']"),
                indicator("title: x\ndetection: {}", pattern_type="sigma"),
            )
        )
    )
    assert report.created == 2
    assert [o.matchable for o in _objects(node)] == [False, False]


def test_stix_20_is_upgraded(node: Node, write: Any, ingest: Any) -> None:
    old = indicator("[domain-name:value = 'old.example']", labels=["malicious-activity"])
    del old["spec_version"]
    report = ingest(
        write(
            {
                "type": "bundle",
                "id": "bundle--6f0a2a4e-6a8f-4bd5-9d0c-3b3d47a2e6d2",
                "spec_version": "2.0",
                "objects": [old],
            }
        )
    )
    assert report.created == 1
    [stored] = _objects(node)
    assert stored.spec_version == "2.1"
    assert orjson.loads(stored.doc)["spec_version"] == "2.1"


def test_gzip_directories_and_lists(node: Node, tmp_path: Path, ingest: Any) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "a.json.gz").write_bytes(
        gzip.compress(orjson.dumps(bundle(indicator("[domain-name:value = 'a.example']"))))
    )
    (folder / "b.json").write_bytes(orjson.dumps([indicator("[domain-name:value = 'b.example']")]))
    report = ingest(folder)
    assert (report.created, report.rejected) == (2, 0)


def test_malformed_json_names_file_line_and_offset(node: Node, write: Any, ingest: Any) -> None:
    good = write(bundle(indicator("[domain-name:value = 'a.example']")), "good.json")
    broken = write(b'{"type": "bundle",\n "objects": [}', "broken.json")
    report = ingest(broken, good)
    assert (report.created, report.rejected) == (1, 1)
    [reject] = report.rejects
    assert reject.file.endswith("broken.json")
    assert reject.index is None
    assert "line 2" in reject.reason
    assert "byte" in reject.reason


def test_hostile_input_is_bounded(
    node: Node, write: Any, ingest: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = write(b"[" * 100_000 + b"]" * 100_000, "deep.json")
    report = ingest(deep)
    assert report.rejected == 1
    assert "deep.json" in report.rejects[0].file
    bomb = write(gzip.compress(b" " * 5_000_000), "bomb.json.gz")
    monkeypatch.setattr(imports_module, "DEFAULT_MAX_BYTES", 1_000_000)
    from watchkeeper.intel import expand, import_stix

    limited = import_stix(
        node.database,
        clock=node.clock,
        actor="t",
        inputs=expand([str(bomb)]),
        source="t",
        max_bytes=1_000_000,
    )
    assert limited.rejected == 1
    assert "refused as a safeguard" in limited.rejects[0].reason


def test_streaming_path_gives_the_same_result(
    node: Node, write: Any, ingest: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundles_module, "IN_MEMORY_BYTES", 200)
    monkeypatch.setattr(bundles_module, "MAX_OBJECT_BYTES", 5000)
    monkeypatch.setattr(bundles_module, "READ_CHUNK", 512)
    objects = [indicator(f"[domain-name:value = 'n{n}.example']") for n in range(30)]
    report = ingest(write(bundle(*objects)))
    assert (report.created, report.rejected) == (30, 0)
    huge = indicator("[domain-name:value = 'big.example']", description="x" * 20_000)
    oversized = ingest(write(bundle(*objects[:3], huge), "huge.json"))
    assert oversized.rejected == 1
    assert "exceeds" in oversized.rejects[0].reason


def test_killed_import_leaves_whole_batches_and_rerun_completes(
    node: Node, write: Any, ingest: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports_module, "BATCH", 10)
    path = write(bundle(*[indicator(f"[domain-name:value = 'k{n}.example']") for n in range(35)]))
    real = imports_module.store_batch
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process is stopped in the middle of the third batch
        return real(*args, **kwargs)

    monkeypatch.setattr(imports_module, "store_batch", dying)
    with pytest.raises(KeyboardInterrupt):
        ingest(path)
    with node.database.reader() as session:
        assert session.scalar(select(func.count()).select_from(StixObject)) == 20
        assert session.scalar(select(func.count()).select_from(IndicatorValue)) == 20
        [run] = session.scalars(select(ImportRun))
        assert (run.status, run.counts["created"]) == ("running", 20)
    monkeypatch.setattr(imports_module, "store_batch", real)
    report = ingest(path)
    assert (report.created, report.unchanged) == (15, 20)


def test_stats(node: Node, write: Any, ingest: Any) -> None:
    ingest(
        write(
            bundle(
                indicator("[domain-name:value = 'a.example']"),
                indicator("[ipv4-addr:value = '203.0.113.1']"),
            )
        )
    )
    with node.database.reader() as session:
        stats = intel_stats(session)
    assert stats["objects"] == [{"type": "indicator", "current": 2, "versions": 2}]
    assert {row["kind"]: row["values"] for row in stats["values"]} == {"domain": 1, "ipv4": 1}
