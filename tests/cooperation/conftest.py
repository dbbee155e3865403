"""Fixtures of the cooperation tests: two nodes of two states that can cooperate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cooperation.pairs import Side, prepare, register
from watchkeeper.testing import make_node
from watchkeeper.web import create_app


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    """(requesting side XX, requested side YY), registered with each other."""
    a_node, b_node = make_node(tmp_path / "xx"), make_node(tmp_path / "yy")
    a_id = prepare(a_node, code="XX-POC", state="XX", name="XX 24/7")
    b_id = prepare(b_node, code="YY-POC", state="YY", name="YY 24/7")
    register(a_node, b_id, "http://yy.test")
    register(b_node, a_id, "http://xx.test")
    a_client = TestClient(create_app(node=b_node), base_url="http://yy.test")
    b_client = TestClient(create_app(node=a_node), base_url="http://xx.test")
    yield Side(a_node, "XX-POC", "XX", a_client), Side(b_node, "YY-POC", "YY", b_client)
    a_client.close()
    b_client.close()
    a_node.close()
    b_node.close()
