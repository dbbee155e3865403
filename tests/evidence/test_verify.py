"""Verify finds edited custody rows, swapped content, deleted events and names them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from watchkeeper.evidence.custody import checkout
from watchkeeper.evidence.intake import add_evidence
from watchkeeper.evidence.vault import content_path
from watchkeeper.evidence.verify import verify_evidence
from watchkeeper.node import Node
from watchkeeper.security import Principal

OFFICER = Principal(name="eve", roles=frozenset({"evidence-officer"}), via="cli")


def _two_items(node: Node, sample: Path, tmp_path: Path) -> list[dict[str, object]]:
    other = tmp_path / "other.bin"
    other.write_bytes(b"\x00\x01" * 5000)
    items = add_evidence(
        node=node, actor="cli:eve", role="evidence-officer", paths=[sample, other], case_ref="C-1"
    )
    checkout(node=node, principal=OFFICER, item=str(items[0]["id"]), purpose="imaging")
    return items


def test_untouched_vault_verifies(keyed: Node, sample: Path, tmp_path: Path) -> None:
    _two_items(keyed, sample, tmp_path)
    report = verify_evidence(node=keyed)
    assert report.ok, [f.line() for f in report.failures]
    assert (report.items, report.events) == (2, 3)
    assert report.bytes_hashed == sample.stat().st_size + 10000


def test_edited_custody_row_is_found(keyed: Node, sample: Path, tmp_path: Path) -> None:
    items = _two_items(keyed, sample, tmp_path)
    with keyed.database.transaction() as session:
        session.execute(
            text("UPDATE custody_events SET purpose = 'nothing' WHERE item_id = :i AND seq = 2"),
            {"i": items[0]["id"]},
        )
    report = verify_evidence(node=keyed, rehash_content=False)
    assert [(f.exhibit, f.seq, f.what) for f in report.failures] == [
        ("E-2026-0001", 2, "event altered: event_hash")
    ]


def test_swapped_content_is_found(keyed: Node, sample: Path, tmp_path: Path) -> None:
    items = _two_items(keyed, sample, tmp_path)
    stored = content_path(keyed.data_dir, str(items[1]["sha256"]))
    stored.chmod(0o644)
    stored.write_bytes(b"\x00\x02" * 5000)
    report = verify_evidence(node=keyed)
    whats = {(f.exhibit, f.what) for f in report.failures}
    assert ("E-2026-0002", "content sha256 mismatch") in whats
    failure = next(f for f in report.failures if f.what == "content sha256 mismatch")
    assert failure.expected == items[1]["sha256"] and failure.actual != failure.expected
    assert verify_evidence(node=keyed, rehash_content=False).ok  # only the content changed


def test_deleted_event_is_found(keyed: Node, sample: Path, tmp_path: Path) -> None:
    items = _two_items(keyed, sample, tmp_path)
    with keyed.database.transaction() as session:
        session.execute(
            text("DELETE FROM custody_events WHERE item_id = :i AND seq = 2"),
            {"i": items[0]["id"]},
        )
    report = verify_evidence(node=keyed, item_ids=["E-2026-0001"])
    assert [(f.exhibit, f.what) for f in report.failures] == [("E-2026-0001", "custody head")]


def test_deleted_first_event_and_edited_item_hash_are_found(
    keyed: Node, sample: Path, tmp_path: Path
) -> None:
    items = _two_items(keyed, sample, tmp_path)
    with keyed.database.transaction() as session:
        session.execute(
            text("DELETE FROM custody_events WHERE item_id = :i AND seq = 1"),
            {"i": items[0]["id"]},
        )
        session.execute(
            text("UPDATE evidence_items SET md5 = :m WHERE id = :i"),
            {"m": "0" * 32, "i": items[1]["id"]},
        )
    report = verify_evidence(node=keyed, rehash_content=False)
    lines = [f.line() for f in report.failures]
    assert any(line.startswith("E-2026-0001 event 1: custody event missing") for line in lines)
    assert any("E-2026-0002" in line and "md5" in line for line in lines), lines


def test_forged_signatures_are_found(keyed: Node, sample: Path, tmp_path: Path) -> None:
    items = _two_items(keyed, sample, tmp_path)
    first, second = str(items[0]["id"]), str(items[1]["id"])
    with keyed.database.transaction() as session:
        signatures = dict(
            session.execute(
                text("SELECT seq, signature FROM custody_events WHERE item_id = :i"), {"i": first}
            ).all()
        )
        for seq, other in ((1, 2), (2, 1)):  # each event carries the other's signature
            session.execute(
                text("UPDATE custody_events SET signature = :s WHERE item_id = :i AND seq = :q"),
                {"s": signatures[other], "i": first, "q": seq},
            )
        session.execute(
            text("UPDATE custody_events SET signature = 'not base64!' WHERE item_id = :i"),
            {"i": second},
        )
    every = verify_evidence(node=keyed, rehash_content=False)
    assert sorted((f.exhibit, f.seq, f.what) for f in every.failures) == [
        ("E-2026-0001", 1, "bad signature"),
        ("E-2026-0001", 2, "bad signature"),
        ("E-2026-0002", 1, "bad signature"),
    ]
    heads = verify_evidence(node=keyed, rehash_content=False, signatures="heads")
    assert sorted((f.exhibit, f.seq) for f in heads.failures) == [
        ("E-2026-0001", 2),
        ("E-2026-0002", 1),
    ]
