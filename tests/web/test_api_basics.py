"""The JSON API's basics: health, security headers, problem+json errors, OpenAPI."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from api_helpers import KNOWN_ROUTES, api_routes, assert_problem
from fastapi.testclient import TestClient

from watchkeeper import __version__
from watchkeeper.node import Node
from watchkeeper.web.app import create_app

# --- health, headers, documentation ---------------------------------------------------------


def test_healthz_needs_no_authentication(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_responses_carry_security_headers(client: TestClient, admin: dict[str, str]) -> None:
    responses = [
        client.get("/healthz"),
        client.get("/api/v1/whoami"),  # 401 problem
        client.get("/api/v1/whoami", headers=admin),
        client.get("/api/v1/no-such-route"),  # 404 from routing
        client.get("/ui/login"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_unknown_api_path_is_a_problem(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/no-such-route"), 404, "http.404")


@pytest.fixture
def failing_client(node: Node, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A client whose GET /api/v1/node meets an unexpected exception."""

    def broken() -> None:
        raise RuntimeError("internal detail s3cr3t")

    monkeypatch.setattr(node, "identity", broken)
    with TestClient(create_app(node=node), raise_server_exceptions=False) as client:
        yield client


def test_unexpected_error_is_a_problem_without_internals(
    failing_client: TestClient, admin: dict[str, str]
) -> None:
    response = failing_client.get("/api/v1/node", headers=admin)
    body = assert_problem(response, 500, "internal")
    assert "s3cr3t" not in response.text
    assert "Traceback" not in response.text
    assert body["instance"] == "/api/v1/node"


def test_unexpected_error_carries_security_headers(
    failing_client: TestClient, admin: dict[str, str]
) -> None:
    response = failing_client.get("/api/v1/node", headers=admin)
    assert response.status_code == 500
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("x-frame-options") == "DENY"


def test_unexpected_error_traceback_goes_to_the_log(
    failing_client: TestClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="watchkeeper.web.problems"):
        failing_client.get("/api/v1/node", headers=admin)
    [logged] = [r for r in caplog.records if r.name == "watchkeeper.web.problems"]
    assert "/api/v1/node" in logged.getMessage()
    assert logged.exc_info is not None
    assert logged.exc_info[0] is RuntimeError
    assert "s3cr3t" in caplog.text


def test_openapi_lists_every_api_route(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 401
    response = client.get("/api/v1/openapi.json", headers=admin)
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Watchkeeper"
    assert document["info"]["version"] == __version__
    paths = document["paths"]
    routes = api_routes(client)
    assert set(routes) >= KNOWN_ROUTES
    for method, path in routes:
        if path == "/api/v1/openapi.json":
            continue  # the document does not describe itself
        assert method.lower() in paths.get(path, {}), f"{method} {path} missing from OpenAPI"
    assert "/healthz" in paths
    assert not [path for path in paths if path.startswith("/ui")]
    assert client.get("/api/docs").status_code == 404  # no page that loads scripts from elsewhere
