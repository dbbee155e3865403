"""Helpers of the JSON API tests: route walks, problem+json checks, peers, the ledger."""

from __future__ import annotations

import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi.testclient import TestClient

from watchkeeper.security.keys import public_key_text

PROBLEM = "application/problem+json"
DOCUMENTATION = ("/api/docs",)  # none today: the OpenAPI document needs a token too
# Routes the walks must at least find, so that they can never pass by walking nothing.
KNOWN_ROUTES = {
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/node"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{token_id}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/verify"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/events/dead-letters"),
    ("POST", "/api/v1/events/dead-letters/replay"),
    ("GET", "/api/v1/peers"),
    ("GET", "/api/v1/peers/{code}"),
    ("POST", "/api/v1/peers"),
    ("DELETE", "/api/v1/peers/{code}"),
}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def flat_routes(client: TestClient) -> list[tuple[str, set[str] | None]]:
    """(path, methods) of every route, with included routers flattened."""
    routes = client.app.routes  # type: ignore[attr-defined]
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routers are already flat
        return [(route.path, getattr(route, "methods", None)) for route in routes]
    return [(context.path, context.methods) for context in iter_route_contexts(routes)]


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every API route of the app, documentation excepted."""
    found = set()
    for path, methods in flat_routes(client):
        if not path or not path.startswith("/api/") or path.startswith(DOCUMENTATION):
            continue
        assert methods, f"{path}: a mount under /api/ that this walk cannot see into"
        found.update((method, path) for method in methods if method != "HEAD")
    return sorted(found)


def fill(path: str) -> str:
    """The path with every parameter replaced by a dummy value."""
    return re.sub(r"\{[^}]+\}", "dummy", path)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:watchkeeper:problem:{code}"
    return body


def raw_public(key: Ed25519PrivateKey | X25519PrivateKey) -> str:
    return public_key_text(key)


def peer_body(code: str = "QA-NCSA", **changes: Any) -> dict[str, Any]:
    body = {
        "code": code,
        "name": "Qatar NCSA",
        "url": "https://node.ncsa.example/",
        "country": "QA",
        "public_key": raw_public(Ed25519PrivateKey.generate()),
        "encryption_key": raw_public(X25519PrivateKey.generate()),
    }
    body.update(changes)
    return body


def audit(client: TestClient, admin: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", headers=admin, params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries
