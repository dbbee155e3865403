"""Fixtures of the intelligence tests: writing files, importing into the test node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from watchkeeper.intel import ImportReport, expand, import_stix
from watchkeeper.node import Node


@pytest.fixture
def write(tmp_path: Path) -> Any:
    """Write a JSON document (or raw bytes) to a file and return its path."""

    def _write(document: Any, name: str = "bundle.json") -> Path:
        path = tmp_path / name
        path.write_bytes(document if isinstance(document, bytes) else orjson.dumps(document))
        return path

    return _write


@pytest.fixture
def ingest(node: Node) -> Any:
    """Import paths into the test node and return the report."""

    def _ingest(*paths: Path | str, source: str = "test") -> ImportReport:
        return import_stix(
            node.database,
            clock=node.clock,
            actor="user:tester",
            inputs=expand([str(p) for p in paths]),
            source=source,
        )

    return _ingest
