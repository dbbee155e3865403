"""Intake: one-pass hashes, write-once storage, atomicity, directories and bad input."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from watchkeeper.errors import InvalidInput, NotFound, StorageError
from watchkeeper.evidence import digests as digests_module
from watchkeeper.evidence.intake import add_evidence
from watchkeeper.evidence.models import CustodyEvent, EvidenceItem
from watchkeeper.evidence.vault import PARTIAL, content_path, vault_dir
from watchkeeper.node import Node


def _add(node: Node, paths: list[Path], **kwargs: object) -> list[dict[str, object]]:
    return add_evidence(
        node=node,
        actor="cli:alice",
        role="evidence-officer",
        paths=paths,
        case_ref="C-2026-0001",
        **kwargs,  # type: ignore[arg-type]
    )


def _counts(node: Node) -> tuple[int, int]:
    with node.database.reader() as session:
        items = session.scalar(select(func.count()).select_from(EvidenceItem)) or 0
        events = session.scalar(select(func.count()).select_from(CustodyEvent)) or 0
    return items, events


def test_file_is_hashed_stored_read_only_and_collected(keyed: Node, sample: Path) -> None:
    data = sample.read_bytes()
    progress: list[tuple[int, int]] = []
    [item] = _add(keyed, [sample], on_progress=lambda d, t: progress.append((d, t)))
    assert item["md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert item["sha1"] == hashlib.sha1(data, usedforsecurity=False).hexdigest()
    assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert item["size"] == len(data) and item["exhibit_number"] == "E-2026-0001"
    assert item["status"] == "sealed" and item["case_ref"] == "C-2026-0001"
    stored = content_path(keyed.data_dir, str(item["sha256"]))
    assert stored.read_bytes() == data
    assert stat.S_IMODE(stored.stat().st_mode) == 0o444
    assert progress[-1] == (len(data), len(data))
    with keyed.database.reader() as session:
        [event] = session.scalars(select(CustodyEvent)).all()
    assert (event.action, event.seq, event.hash_after) == ("collect", 1, item["sha256"])
    assert event.event_hash == item["custody_head"] and event.signature


def test_identical_content_is_stored_once(keyed: Node, sample: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin.log"
    twin.write_bytes(sample.read_bytes())
    first = _add(keyed, [sample])[0]
    second = _add(keyed, [twin])[0]
    assert first["sha256"] == second["sha256"]
    assert second["exhibit_number"] == "E-2026-0002"
    files = [p for p in (vault_dir(keyed.data_dir) / "sha256").rglob("*") if p.is_file()]
    assert len(files) == 1


def test_directory_is_a_parent_with_one_child_per_file(keyed: Node, tmp_path: Path) -> None:
    folder = tmp_path / "seized"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"alpha")
    (folder / "sub" / "b.bin").write_bytes(b"beta")
    items = _add(keyed, [folder], exhibit="E-2026-0007", kind="media")
    assert [i["exhibit_number"] for i in items] == ["E-2026-0007", "E-2026-0007/1", "E-2026-0007/2"]
    parent, *children = items
    assert parent["sha256"] is None and parent["kind"] == "media"
    assert all(
        c["parent_id"] == parent["id"] and c["root_exhibit"] == "E-2026-0007" for c in children
    )
    assert [c["original_name"] for c in children] == ["a.txt", "sub/b.bin"]


def test_unreadable_path_registers_nothing(keyed: Node, sample: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"missing\.bin"):
        _add(keyed, [sample, tmp_path / "missing.bin"])
    assert _counts(keyed) == (0, 0)
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.bin"
        locked.write_bytes(b"x")
        locked.chmod(0)
        with pytest.raises(InvalidInput, match=r"locked\.bin"):
            _add(keyed, [sample, locked])
        assert _counts(keyed) == (0, 0)


def test_disk_full_leaves_no_row_and_no_file(
    keyed: Node, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: memoryview) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(digests_module, "write_chunk", full)
    with pytest.raises(StorageError, match="disk full"):
        _add(keyed, [sample])
    assert _counts(keyed) == (0, 0)
    vault = vault_dir(keyed.data_dir)
    assert [p for p in vault.rglob("*") if p.is_file()] == []


def test_leftover_partial_files_are_swept(keyed: Node, sample: Path) -> None:
    partial = vault_dir(keyed.data_dir) / PARTIAL
    partial.mkdir(parents=True)
    (partial / "killed.tmp").write_bytes(b"half a file")
    _add(keyed, [sample])
    assert list(partial.iterdir()) == []


def test_intake_needs_node_keys(node: Node, sample: Path) -> None:
    with pytest.raises(NotFound, match="node init"):
        _add(node, [sample])
    assert _counts(node) == (0, 0)


def test_existing_exhibit_number_is_refused(keyed: Node, sample: Path) -> None:
    _add(keyed, [sample], exhibit="E-1")
    with pytest.raises(Exception, match="already exists"):
        _add(keyed, [sample], exhibit="E-1")
    assert _counts(keyed) == (1, 1)
