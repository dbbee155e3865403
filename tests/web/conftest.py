"""Fixtures of the web tests: an in-process HTTP client over a throwaway node."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from watchkeeper.node import Node
from watchkeeper.web.app import create_app


@pytest.fixture
def client(node: Node) -> Iterator[TestClient]:
    """A client of the node's app (lifespan run, server exceptions re-raised)."""
    with TestClient(create_app(node=node)) as the_client:
        yield the_client
