"""Fixtures of the evidence tests: a node with keys, and small files to preserve."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.node import Node


@pytest.fixture
def keyed(node: Node) -> Node:
    """The test node with its Ed25519 identity created (custody events are signed)."""
    node.init_identity(actor="test", code="QA-NCSA", name="Test agency", country="QA")
    return node


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A small log file of known content."""
    path = tmp_path / "in" / "access.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"10.0.0.1 GET /login 200\n" * 1000)
    return path
