"""Deleting stored versions: rows, values and provenance go; the newest remaining version is
current again; a deleted number is never handed out again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from stix_samples import indicator

from watchkeeper.intel import (
    IndicatorValue,
    Provenance,
    StixObject,
    delete_versions,
    run_import,
)
from watchkeeper.node import Node

V1, V2, V3 = "2026-03-01T10:00:00.000Z", "2026-04-01T10:00:00.000Z", "2026-05-01T10:00:00.000Z"


def _load(node: Node, *objects: dict[str, Any]) -> None:
    report = run_import(
        node.database,
        clock=node.clock,
        actor="test",
        source="test",
        format="stix",
        reader=lambda reject: (("test", index, obj) for index, obj in enumerate(objects)),
    )
    assert report.rejected == 0, report.document()


def _rows(node: Node, stix_id: str) -> list[tuple[int, str, bool]]:
    with node.database.reader() as session:
        o = StixObject
        rows = session.execute(
            select(o.seq, o.modified, o.current).where(o.id == stix_id).order_by(o.seq)
        )
        return [(seq, modified, current) for seq, modified, current in rows]


def test_deleting_the_current_version_makes_the_newest_remaining_current(node: Node) -> None:
    first = indicator("[ipv4-addr:value = '198.51.100.7']", modified=V1)
    _load(node, first)
    _load(node, {**first, "modified": V3}, {**first, "modified": V2})
    rows = _rows(node, first["id"])
    assert [(m[:10], c) for _, m, c in rows] == [
        ("2026-03-01", False),
        ("2026-05-01", True),
        ("2026-04-01", False),
    ]
    newest = rows[1][0]
    with node.database.transaction() as session:
        deleted = delete_versions(session, seqs=[newest])
    assert deleted == [(first["id"], "2026-05-01T10:00:00.000000Z")]
    remaining = _rows(node, first["id"])
    assert [(m[:10], c) for _, m, c in remaining] == [("2026-03-01", False), ("2026-04-01", True)]
    with node.database.reader() as session:
        for model in (IndicatorValue, Provenance):
            seq = model.object_seq
            assert session.scalar(select(func.count()).where(seq == newest)) == 0


def test_a_deleted_number_is_never_handed_out_again(node: Node) -> None:
    _load(node, indicator("[ipv4-addr:value = '198.51.100.8']"))
    last = indicator("[ipv4-addr:value = '198.51.100.9']")
    _load(node, last)
    ((seq, _, _),) = _rows(node, last["id"])
    with node.database.transaction() as session:
        delete_versions(session, seqs=[seq])
    # A reader whose cursor stood at ``seq`` must still see what comes next.
    later = indicator("[ipv4-addr:value = '198.51.100.10']")
    _load(node, later)
    ((new_seq, _, _),) = _rows(node, later["id"])
    assert new_seq > seq
    with node.database.transaction() as session:
        assert delete_versions(session, seqs=[]) == []
        assert delete_versions(session, seqs=[10**9]) == []
