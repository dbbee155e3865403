"""Sealed packages between two nodes: round trip, and every refusal leaves nothing behind."""

from __future__ import annotations

import importlib.util
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from watchkeeper.errors import IntegrityError, InvalidInput, WatchkeeperError
from watchkeeper.evidence.custody import custody_timeline, list_items
from watchkeeper.evidence.intake import add_evidence
from watchkeeper.evidence.models import EvidenceItem
from watchkeeper.evidence.package_models import EvidencePackage
from watchkeeper.evidence.package_receive import receive_package
from watchkeeper.evidence.packages import build_package
from watchkeeper.evidence.vault import vault_dir
from watchkeeper.evidence.verify import verify_evidence
from watchkeeper.node import Node
from watchkeeper.security import add_peer
from watchkeeper.testing import make_node

OFFICER = {"actor": "cli:eve", "role": "evidence-officer"}


def _node(tmp_path: Path, name: str, code: str, country: str) -> Node:
    node = make_node(tmp_path / name)
    node.init_identity(actor="test", code=code, name=f"Agency {code}", country=country)
    return node


def _register(node: Node, other: Node) -> None:
    identity = other.identity()
    with node.database.transaction() as session:
        add_peer(
            session, clock=node.clock, actor="test", code=identity.code,
            url=f"https://{identity.code.lower()}.example", country=identity.country,
            public_key=identity.signing_public_key,
            encryption_key=identity.encryption_public_key,
        )  # fmt: skip


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node, Node]]:
    """A (sender), B (receiver), C (a third node A knows; B does not)."""
    a = _node(tmp_path, "a", "QA-NCSA", "QA")
    b = _node(tmp_path, "b", "FR-ANSSI", "FR")
    c = _node(tmp_path, "c", "DE-BSI", "DE")
    _register(a, b)
    _register(b, a)
    _register(a, c)
    _register(c, b)
    yield a, b, c
    for node in (a, b, c):
        node.close()


def _evidence(node: Node, tmp_path: Path, files: dict[str, bytes]) -> list[dict[str, Any]]:
    folder = tmp_path / "seized"
    folder.mkdir(exist_ok=True)
    paths = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return add_evidence(node=node, paths=paths, case_ref=None, authority="W-1", **OFFICER)


def _package(node: Node, items: list[dict[str, Any]], peer: str, out: Path, **extra: Any) -> Any:
    return build_package(
        node=node, item_ids=[i["exhibit_number"] for i in items], peer_code=peer,
        authority="MLA-2026-17", use_restrictions=["court use only", "no onward transfer"],
        output=out, purpose="mutual legal assistance", **OFFICER, **extra,
    )  # fmt: skip


def _assert_nothing_registered(node: Node) -> None:
    with node.database.reader() as session:
        assert list_items(session) == []
        assert session.scalars(select(EvidencePackage)).all() == []
    partial = vault_dir(node.data_dir) / ".partial"
    assert not partial.exists() or list(partial.iterdir()) == []
    stored = vault_dir(node.data_dir) / "sha256"
    assert not stored.exists() or [p for p in stored.rglob("*") if p.is_file()] == []


@pytest.fixture
def sent(nodes: tuple[Node, Node, Node], tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    a = nodes[0]
    items = _evidence(a, tmp_path, {"mail.eml": b"From: x\r\n\r\nclick\r\n", "empty.bin": b""})
    out = tmp_path / "out" / "pkg.tar"
    _package(a, items, "FR-ANSSI", out)
    return out, items


def test_round_trip_registers_identical_items_with_linked_custody(
    nodes: tuple[Node, Node, Node], sent: tuple[Path, list[dict[str, Any]]]
) -> None:
    a, b, _ = nodes
    path, items = sent
    result = receive_package(node=b, path=path, **OFFICER)
    got = result["items"]
    assert [(i["sha256"], i["md5"], i["sha1"], i["size"]) for i in got] == [
        (i["sha256"], i["md5"], i["sha1"], i["size"]) for i in items
    ]
    with a.database.reader() as session:
        sender = custody_timeline(session, item=items[0]["exhibit_number"])
    assert sender["custody"][-1]["action"] == "send-abroad"
    assert sender["custody"][-1]["detail"]["counterparty"] == "FR-ANSSI"
    assert sender["custody"][-1]["authority_ref"] == "MLA-2026-17"
    with b.database.reader() as session:
        timeline = custody_timeline(session, item=got[0]["exhibit_number"])
    (event,) = timeline["custody"]
    assert event["action"] == "receive" and event["authority_ref"] == "MLA-2026-17"
    link = event["detail"]["sender"]
    assert link["code"] == "QA-NCSA" and link["fingerprint"] == a.identity().fingerprint
    # the head the sender's chain had when the package was built (the collect event)
    assert link["custody_head"] == sender["custody"][0]["event_hash"]
    assert timeline["legal"]["use_restrictions"] == ["court use only", "no onward transfer"]
    assert timeline["legal"]["authority_ref"] == "MLA-2026-17"
    assert verify_evidence(node=b).ok and verify_evidence(node=a).ok
    with pytest.raises(InvalidInput, match="replayed") as replay:
        receive_package(node=b, path=path, **OFFICER)
    assert replay.value.fields["reason"] == "replayed"
    with b.database.reader() as session:
        assert len(list_items(session)) == 2


def test_tampered_manifest_is_refused(
    nodes: tuple[Node, Node, Node], sent: tuple[Path, list[dict[str, Any]]]
) -> None:
    b = nodes[1]
    path, _ = sent
    data = path.read_bytes()
    assert data.count(b"MLA-2026-17") >= 1
    path.write_bytes(data.replace(b"MLA-2026-17", b"MLA-2026-18"))
    with pytest.raises(IntegrityError) as refused:
        receive_package(node=b, path=path, **OFFICER)
    assert refused.value.fields["reason"] == "bad-signature"
    _assert_nothing_registered(b)


def test_tampered_ciphertext_is_refused_naming_the_item(
    nodes: tuple[Node, Node, Node], sent: tuple[Path, list[dict[str, Any]]]
) -> None:
    b = nodes[1]
    path, items = sent
    with tarfile.open(path) as tar:
        offset = tar.getmember("items/0001.bin").offset_data
    with open(path, "r+b") as handle:
        handle.seek(offset + 3)
        byte = handle.read(1)
        handle.seek(offset + 3)
        handle.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(IntegrityError) as refused:
        receive_package(node=b, path=path, **OFFICER)
    assert refused.value.fields["reason"] == "tampered-blob"
    assert refused.value.fields["item"] == items[0]["exhibit_number"]
    assert items[0]["exhibit_number"] in str(refused.value)
    _assert_nothing_registered(b)


def test_package_for_another_node_is_refused(
    nodes: tuple[Node, Node, Node], tmp_path: Path
) -> None:
    a, b, _ = nodes
    items = _evidence(a, tmp_path, {"a.log": b"x" * 100})
    out = tmp_path / "for-c.tar"
    _package(a, items, "DE-BSI", out)
    with pytest.raises(InvalidInput) as refused:
        receive_package(node=b, path=out, **OFFICER)
    assert refused.value.fields["reason"] == "wrong-addressee"
    assert "DE-BSI" in str(refused.value)
    _assert_nothing_registered(b)


def test_package_from_an_unknown_node_is_refused(
    nodes: tuple[Node, Node, Node], tmp_path: Path
) -> None:
    _, b, c = nodes
    items = _evidence(c, tmp_path, {"a.log": b"y" * 100})
    out = tmp_path / "from-c.tar"
    _package(c, items, "FR-ANSSI", out)
    with pytest.raises(InvalidInput) as refused:
        receive_package(node=b, path=out, **OFFICER)
    assert refused.value.fields["reason"] == "unknown-sender"
    assert "DE-BSI" in str(refused.value)
    _assert_nothing_registered(b)


def test_multi_chunk_item_round_trips(nodes: tuple[Node, Node, Node], tmp_path: Path) -> None:
    a, b, _ = nodes
    big = os.urandom(3 * 1024 * 1024 + 17)
    items = _evidence(a, tmp_path, {"disk.img": big})
    out = tmp_path / "big.tar"
    _package(a, items, "FR-ANSSI", out, chunk_size=1024 * 1024)
    with tarfile.open(out) as tar:
        manifest = orjson.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        blob = tar.getmember("items/0001.bin")
    assert blob.size == len(big) + 4 * 16  # four chunks, one tag each
    assert manifest["items"][0]["blob"]["chunk_size"] == 1024 * 1024
    assert manifest["items"][0]["custody"]["events"][0]["action"] == "collect"
    if importlib.util.find_spec("watchkeeper.evidence.case_export") is not None:
        assert manifest["case"] is not None  # the CASE/UCO bundle travels in the manifest
    (item,) = receive_package(node=b, path=out, **OFFICER)["items"]
    assert item["sha256"] == items[0]["sha256"] and item["size"] == len(big)
    with b.database.reader() as session:
        row = session.scalars(select(EvidenceItem)).one()
    from watchkeeper.evidence.vault import content_path

    assert content_path(b.data_dir, str(row.sha256)).read_bytes() == big


def test_red_items_need_the_override_and_sender_errors_leave_no_file(
    nodes: tuple[Node, Node, Node], tmp_path: Path
) -> None:
    a = nodes[0]
    items = _evidence(a, tmp_path, {"secret.txt": b"red"})
    with a.database.transaction() as session:
        row = session.get(EvidenceItem, items[0]["id"])
        assert row is not None
        row.legal = {**row.legal, "tlp": "red"}
    out = tmp_path / "red.tar"
    with pytest.raises(InvalidInput, match="TLP:RED"):
        _package(a, items, "FR-ANSSI", out)
    assert not out.exists()
    with pytest.raises(WatchkeeperError, match="NO-SUCH"):
        _package(a, items, "NO-SUCH", out, allow_red=True)
    _package(a, items, "FR-ANSSI", out, allow_red=True)
    assert out.exists() and [p.name for p in out.parent.iterdir() if "partial" in p.name] == []
