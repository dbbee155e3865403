"""Fixtures of the web tests: an in-process HTTP client over a throwaway node."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import bearer
from fastapi.testclient import TestClient

from watchkeeper.node import Node
from watchkeeper.testing import issue_token
from watchkeeper.web.app import create_app


@pytest.fixture
def client(node: Node) -> Iterator[TestClient]:
    """A client of the node's app (lifespan run, server exceptions re-raised)."""
    with TestClient(create_app(node=node)) as the_client:
        yield the_client


@pytest.fixture
def admin(node: Node) -> dict[str, str]:
    """Headers of an admin whose token outlives every clock move of these tests."""
    return bearer(issue_token(node, name="admin", roles=["admin"], expires="1y"))
