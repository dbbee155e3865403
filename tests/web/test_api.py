"""The JSON API: authentication on every route, roles, problem+json, accounts, peers, audit."""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from watchkeeper import __version__
from watchkeeper.bus import Event, emit
from watchkeeper.node import Node
from watchkeeper.security import ROLES, create_token, parse_duration, peer_account
from watchkeeper.security.models import AuditEntry
from watchkeeper.testing import FIXED_START, issue_token, make_node
from watchkeeper.web.app import create_app

PROBLEM = "application/problem+json"
DOCUMENTATION = ("/api/v1/openapi.json", "/api/docs")
# The only API routes a partner node's service account may call.
PARTNER_ALLOWED = {("GET", "/api/v1/whoami"), ("GET", "/api/v1/node")}
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
# A well-formed token (wk_<12 hex>_<43 url-safe>) that no node ever issued.
UNKNOWN_SECRET = "wk_0123456789ab_" + "A" * 43


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
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


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


@pytest.fixture
def admin(node: Node) -> dict[str, str]:
    """Headers of an admin whose token outlives every clock move of these tests."""
    return bearer(issue_token(node, name="admin", roles=["admin"], expires="1y"))


def audit(client: TestClient, admin: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", headers=admin, params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


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


def test_openapi_lists_every_api_route(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Watchkeeper"
    assert document["info"]["version"] == __version__
    paths = document["paths"]
    routes = api_routes(client)
    assert set(routes) >= KNOWN_ROUTES
    for method, path in routes:
        assert method.lower() in paths.get(path, {}), f"{method} {path} missing from OpenAPI"
    assert "/healthz" in paths
    assert not [path for path in paths if path.startswith("/ui")]
    assert client.get("/api/docs").status_code == 200


# --- authentication on every route ----------------------------------------------------------


def test_every_api_route_refuses_requests_without_token(
    client: TestClient, admin: dict[str, str]
) -> None:
    routes = api_routes(client)
    assert set(routes) >= KNOWN_ROUTES
    for method, path in routes:
        response = client.request(method, fill(path))
        body = assert_problem(response, 401, "auth.unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)
        assert body["reason"] == "missing", (method, path)
    denied = audit(client, admin, action="auth.token")
    refused = {(e["detail"]["method"], e["detail"]["path"]) for e in denied}
    assert refused == {(method, fill(path)) for method, path in routes}
    assert {(e["actor"], e["outcome"], e["detail"]["reason"]) for e in denied} == {
        ("anonymous", "denied", "missing")
    }


def test_every_api_route_refuses_a_partner_node_except_its_own(
    client: TestClient, node: Node, admin: dict[str, str]
) -> None:
    partner = bearer(issue_token(node, name="peer:qa-ncsa", roles=["partner-node"]))
    routes = api_routes(client)
    assert set(routes) > PARTNER_ALLOWED
    forbidden = [route for route in routes if route not in PARTNER_ALLOWED]
    for method, path in forbidden:
        response = client.request(method, fill(path), headers=partner)
        body = assert_problem(response, 403, "auth.forbidden")
        assert "partner-node" not in body["needed"], (method, path)
    for method, path in sorted(PARTNER_ALLOWED):
        assert client.request(method, path, headers=partner).status_code == 200
    denied = audit(client, admin, action="auth.role")
    assert {(e["detail"]["method"], e["detail"]["path"]) for e in denied} == {
        (method, fill(path)) for method, path in forbidden
    }
    assert {(e["actor"], e["outcome"]) for e in denied} == {("user:peer:qa-ncsa", "denied")}
    # Nothing was created by the refused requests.
    names = [u["name"] for u in client.get("/api/v1/users", headers=admin).json()]
    assert names == ["admin", "peer:qa-ncsa"]


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        (
            "analyst",
            [("GET", "/api/v1/whoami"), ("GET", "/api/v1/peers")],
            [
                ("GET", "/api/v1/users"),
                ("GET", "/api/v1/tokens"),
                ("GET", "/api/v1/audit"),
                ("GET", "/api/v1/events"),
                ("POST", "/api/v1/peers"),
                ("POST", "/api/v1/events/dead-letters/replay"),
            ],
        ),
        (
            "auditor",
            [
                ("GET", "/api/v1/audit"),
                ("GET", "/api/v1/audit/verify"),
                ("GET", "/api/v1/events"),
                ("GET", "/api/v1/events/dead-letters"),
                ("GET", "/api/v1/peers"),
            ],
            [
                ("GET", "/api/v1/users"),
                ("POST", "/api/v1/users"),
                ("POST", "/api/v1/tokens"),
                ("DELETE", "/api/v1/peers/dummy"),
                ("POST", "/api/v1/events/dead-letters/replay"),
            ],
        ),
        (
            "responder",
            [("GET", "/api/v1/node")],
            [("GET", "/api/v1/peers"), ("GET", "/api/v1/audit/verify")],
        ),
    ],
)
def test_staff_roles_reach_only_their_routes(
    client: TestClient,
    node: Node,
    role: str,
    allowed: list[tuple[str, str]],
    refused: list[tuple[str, str]],
) -> None:
    headers = bearer(issue_token(node, name="staff", roles=[role]))
    for method, path in allowed:
        assert client.request(method, path, headers=headers).status_code == 200, (method, path)
    for method, path in refused:
        assert_problem(client.request(method, path, headers=headers), 403, "auth.forbidden")


# --- bad tokens -----------------------------------------------------------------------------


def test_bad_tokens_are_refused_and_audited_without_their_secret(
    client: TestClient, node: Node, admin: dict[str, str]
) -> None:
    malformed = "wk_not-a-real-token-MALFORMED"
    expiring = issue_token(node, name="erin", roles=["analyst"], expires="30d")
    revoked = issue_token(node, name="rob", roles=["analyst"], expires="1y")
    revoked_id = revoked.split("_")[1]
    expiring_id = expiring.split("_")[1]
    assert client.get("/api/v1/whoami", headers=bearer(expiring)).status_code == 200
    assert client.get("/api/v1/whoami", headers=bearer(revoked)).status_code == 200

    assert client.delete(f"/api/v1/tokens/{revoked_id}", headers=admin).status_code == 204
    node.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]

    expected = {
        malformed: ("malformed", None),
        UNKNOWN_SECRET: ("unknown", "token:0123456789ab"),
        expiring: ("expired", f"token:{expiring_id}"),
        revoked: ("revoked", f"token:{revoked_id}"),
    }
    for secret, (reason, _) in expected.items():
        response = client.get("/api/v1/whoami", headers=bearer(secret))
        body = assert_problem(response, 401, "auth.unauthenticated")
        assert body["reason"] == reason
        assert "token" not in body  # does not confirm which token ids exist
        assert secret not in response.text
    assert_problem(
        client.get("/api/v1/whoami", headers={"Authorization": f"Basic {UNKNOWN_SECRET}"}),
        401,
        "auth.unauthenticated",
    )

    response = client.get("/api/v1/audit", headers=admin, params={"action": "auth.token"})
    entries = response.json()
    assert [(e["detail"]["reason"], e["subject"]) for e in entries] == [
        *expected.values(),
        ("missing", None),
    ]
    for entry in entries:
        assert entry["actor"] == "anonymous"
        assert entry["outcome"] == "denied"
        assert entry["detail"]["path"] == "/api/v1/whoami"
        assert entry["detail"]["method"] == "GET"
    whole_ledger = client.get("/api/v1/audit", headers=admin, params={"limit": 1000}).text
    whole_log = client.get("/api/v1/events", headers=admin, params={"limit": 1000}).text
    for secret in expected:
        assert secret not in whole_ledger
        assert secret not in whole_log
    assert client.get("/api/v1/audit/verify", headers=admin).json()["ok"] is True


def test_revoking_is_audited_and_refused_twice_or_for_unknown_ids(
    client: TestClient, node: Node, admin: dict[str, str]
) -> None:
    secret = issue_token(node, name="rob", roles=["analyst"])
    token_id = secret.split("_")[1]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=admin).status_code == 204
    assert_problem(client.delete(f"/api/v1/tokens/{token_id}", headers=admin), 409, "conflict")
    body = assert_problem(
        client.delete("/api/v1/tokens/ffffffffffff", headers=admin), 404, "not_found"
    )
    assert "ffffffffffff" in body["detail"]
    [entry] = audit(client, admin, action="token.revoke")
    assert (entry["actor"], entry["subject"], entry["outcome"]) == (
        "user:admin",
        f"token:{token_id}",
        "ok",
    )
    [listed] = client.get("/api/v1/tokens", headers=admin, params={"user": "rob"}).json()
    assert listed["revoked_at"].startswith(FIXED_START.strftime("%Y-%m-%dT%H:%M:%S"))


def test_disabled_account_tokens_stop_working(
    client: TestClient, node: Node, admin: dict[str, str]
) -> None:
    assert client.post("/api/v1/peers", json=peer_body(), headers=admin).status_code == 201
    with node.database.transaction() as session:
        account = peer_account(session, clock=node.clock, actor="test", code="QA-NCSA")
        secret = create_token(
            session,
            clock=node.clock,
            actor="test",
            user_name=account.name,
            expires_in=parse_duration("30d"),
        ).secret
    whoami = client.get("/api/v1/whoami", headers=bearer(secret))
    assert whoami.status_code == 200
    assert whoami.json()["roles"] == ["partner-node"]
    assert client.delete("/api/v1/peers/QA-NCSA", headers=admin).status_code == 204
    body = assert_problem(
        client.get("/api/v1/whoami", headers=bearer(secret)), 401, "auth.unauthenticated"
    )
    assert body["reason"] == "disabled"


# --- users and tokens -----------------------------------------------------------------------


def test_create_user_is_audited_and_emitted(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/users",
        headers=admin,
        json={"name": "dana", "roles": ["auditor", "analyst"], "display_name": "Dana"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "dana"
    assert body["display_name"] == "Dana"
    assert body["roles"] == ["analyst", "auditor"]
    assert body["disabled"] is False
    assert body["created_at"].startswith("2026-01-15T09:00:00")

    [entry] = [e for e in audit(client, admin, action="user.add") if e["subject"] == "user:dana"]
    assert (entry["actor"], entry["outcome"]) == ("user:admin", "ok")
    assert entry["detail"] == {"roles": ["analyst", "auditor"]}
    events = client.get("/api/v1/events", headers=admin, params={"type": "user.add"}).json()
    [event] = [e for e in events if e["subject"] == "user:dana"]
    assert event["type"] == "user.add"
    assert event["actor"] == "user:admin"
    listed = client.get("/api/v1/users", headers=admin).json()
    assert [u["name"] for u in listed] == ["admin", "dana"]


def test_create_user_with_unknown_role_lists_the_valid_ones(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/users", headers=admin, json={"name": "eve", "roles": ["analyst", "wizard"]}
    )
    body = assert_problem(response, 422, "input.invalid")
    assert "wizard" in body["detail"]
    for role in ROLES:
        assert role in body["detail"]
    assert body["unknown"] == ["wizard"]
    assert body["valid"] == list(ROLES)
    assert body["field"] == "role"
    names = [u["name"] for u in client.get("/api/v1/users", headers=admin).json()]
    assert "eve" not in names
    assert "user:eve" not in [e["subject"] for e in audit(client, admin, action="user.add")]


def test_refused_changes_are_audited_without_secrets(
    client: TestClient, admin: dict[str, str]
) -> None:
    refused = [
        ("/api/v1/users", {"name": "eve", "roles": ["wizard"]}, 422),
        ("/api/v1/users", {"name": "eve", "roles": ["analyst"], "password": "pw9chars!"}, 422),
        ("/api/v1/users", {"name": "admin", "roles": ["analyst"]}, 409),
        ("/api/v1/tokens", {"user": "nobody"}, 404),
    ]
    for path, payload, status in refused:
        assert client.post(path, headers=admin, json=payload).status_code == status
    client.get("/api/v1/peers/XX-NONE", headers=admin)  # a failed read is not a change
    failed = audit(client, admin, action="api.post")
    assert [(e["subject"], e["detail"]["code"]) for e in failed] == [
        ("/api/v1/users", "input.invalid"),
        ("/api/v1/users", "input.invalid"),
        ("/api/v1/users", "conflict"),
        ("/api/v1/tokens", "not_found"),
    ]
    assert {(e["actor"], e["outcome"]) for e in failed} == {("user:admin", "failed")}
    assert "wizard" in failed[0]["detail"]["error"]
    assert "pw9chars!" not in client.get("/api/v1/audit", headers=admin).text
    assert [e for e in audit(client, admin) if e["action"].startswith("api.get")] == []


def test_create_user_twice_is_a_conflict(client: TestClient, admin: dict[str, str]) -> None:
    user = {"name": "fred", "roles": ["responder"]}
    assert client.post("/api/v1/users", headers=admin, json=user).status_code == 201
    body = assert_problem(client.post("/api/v1/users", headers=admin, json=user), 409, "conflict")
    assert "fred" in body["detail"]
    assert len([e for e in audit(client, admin, action="user.add") if "fred" in e["subject"]]) == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "gus"}, "body.roles"),
        ({"name": "gus", "roles": []}, "body.roles"),
        ({"roles": ["analyst"]}, "body.name"),
        ({"name": "gus", "roles": "analyst"}, "body.roles"),
    ],
)
def test_create_user_body_errors_name_the_field(
    client: TestClient, admin: dict[str, str], payload: dict[str, Any], field: str
) -> None:
    body = assert_problem(
        client.post("/api/v1/users", headers=admin, json=payload), 422, "input.invalid"
    )
    assert field in [error["field"] for error in body["errors"]]
    assert all(error["message"] for error in body["errors"])
    assert body["detail"].startswith(body["errors"][0]["field"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Not A Name", "roles": ["analyst"]}, "name"),
        ({"name": "gus", "roles": ["analyst"], "password": "short"}, "password"),
    ],
)
def test_create_user_domain_errors_name_the_field(
    client: TestClient, admin: dict[str, str], payload: dict[str, Any], field: str
) -> None:
    body = assert_problem(
        client.post("/api/v1/users", headers=admin, json=payload), 422, "input.invalid"
    )
    assert body["field"] == field
    assert [u["name"] for u in client.get("/api/v1/users", headers=admin).json()] == ["admin"]


def test_token_secret_is_shown_once_and_works(client: TestClient, admin: dict[str, str]) -> None:
    client.post("/api/v1/users", headers=admin, json={"name": "hal", "roles": ["analyst"]})
    response = client.post(
        "/api/v1/tokens", headers=admin, json={"user": "hal", "expires": "7d", "label": "ci"}
    )
    assert response.status_code == 201, response.text
    issued = response.json()
    secret = issued["secret"]
    assert re.fullmatch(r"wk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", secret)
    assert secret.split("_")[1] == issued["id"]
    assert (issued["user"], issued["label"], issued["revoked_at"]) == ("hal", "ci", None)
    assert issued["expires_at"].startswith("2026-01-22T09:00:00")

    listing = client.get("/api/v1/tokens", headers=admin)
    assert listing.status_code == 200
    assert secret not in listing.text
    assert secret.split("_", 2)[2] not in listing.text
    assert all("secret" not in token and "token_hash" not in token for token in listing.json())
    assert issued["id"] in [token["id"] for token in listing.json()]
    [mine] = client.get("/api/v1/tokens", headers=admin, params={"user": "hal"}).json()
    assert mine["id"] == issued["id"]

    whoami = client.get("/api/v1/whoami", headers=bearer(secret))
    assert whoami.status_code == 200
    assert whoami.json() == {
        "name": "hal",
        "roles": ["analyst"],
        "token_id": issued["id"],
        "actor": "user:hal",
    }
    [entry] = audit(client, admin, action="token.create")[-1:]
    assert entry["subject"] == f"token:{issued['id']}"
    for text in (
        client.get("/api/v1/audit", headers=admin, params={"limit": 1000}).text,
        client.get("/api/v1/events", headers=admin, params={"limit": 1000}).text,
    ):
        assert secret not in text


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"user": "nobody", "expires": "7d"}, 404, "not_found"),
        ({"user": "admin", "expires": "forever"}, 422, "input.invalid"),
        ({"user": "admin", "expires": "0d"}, 422, "input.invalid"),
        ({"expires": "7d"}, 422, "input.invalid"),
    ],
)
def test_issuing_a_bad_token_request_is_refused(
    client: TestClient, admin: dict[str, str], payload: dict[str, Any], status: int, code: str
) -> None:
    assert_problem(client.post("/api/v1/tokens", headers=admin, json=payload), status, code)
    assert len(client.get("/api/v1/tokens", headers=admin).json()) == 1  # the admin's own


# --- peers ----------------------------------------------------------------------------------


def test_peer_lifecycle(client: TestClient, node: Node, admin: dict[str, str]) -> None:
    body = peer_body()
    response = client.post("/api/v1/peers", json=body, headers=admin)
    assert response.status_code == 201, response.text
    peer = response.json()
    raw = base64.b64decode(body["public_key"])
    assert peer["fingerprint"] == hashlib.sha256(raw).hexdigest()
    assert peer["url"] == "https://node.ncsa.example"
    assert (peer["code"], peer["country"], peer["public_key"]) == (
        "QA-NCSA",
        "QA",
        body["public_key"],
    )
    assert_problem(client.post("/api/v1/peers", json=body, headers=admin), 409, "conflict")

    analyst = bearer(issue_token(node, name="ana", roles=["analyst"]))
    listed = client.get("/api/v1/peers", headers=analyst)
    assert listed.status_code == 200
    assert listed.json() == [peer]
    assert client.get("/api/v1/peers/QA-NCSA", headers=analyst).json() == peer
    assert_problem(client.get("/api/v1/peers/XX-NONE", headers=analyst), 404, "not_found")

    assert client.delete("/api/v1/peers/QA-NCSA", headers=admin).status_code == 204
    assert_problem(client.get("/api/v1/peers/QA-NCSA", headers=admin), 404, "not_found")
    assert_problem(client.delete("/api/v1/peers/QA-NCSA", headers=admin), 404, "not_found")
    assert client.get("/api/v1/peers", headers=admin).json() == []
    actions = [(e["action"], e["subject"]) for e in audit(client, admin) if "peer" in e["action"]]
    assert actions == [("peer.add", "peer:QA-NCSA"), ("peer.remove", "peer:QA-NCSA")]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"public_key": "not base64 at all!"}, "public_key"),
        ({"public_key": base64.b64encode(b"x" * 31).decode()}, "public_key"),
        ({"encryption_key": "AAAA"}, "encryption_key"),
        ({"code": "qa-ncsa"}, "code"),
        ({"country": "Qatar"}, "country"),
        ({"url": "ftp://node.example"}, "url"),
    ],
)
def test_bad_peer_is_refused_naming_the_field(
    client: TestClient, admin: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/peers", json=peer_body(**changes), headers=admin)
    body = assert_problem(response, 422, "input.invalid")
    assert body["field"] == field
    assert field.split("_")[0] in body["detail"].lower()
    assert client.get("/api/v1/peers", headers=admin).json() == []


def test_peer_body_missing_key_names_the_field(client: TestClient, admin: dict[str, str]) -> None:
    body = peer_body()
    del body["public_key"]
    problem = assert_problem(
        client.post("/api/v1/peers", json=body, headers=admin), 422, "input.invalid"
    )
    assert [error["field"] for error in problem["errors"]] == ["body.public_key"]


# --- audit ledger ---------------------------------------------------------------------------


def test_audit_verify_finds_tampering(
    client: TestClient, node: Node, admin: dict[str, str]
) -> None:
    client.post("/api/v1/users", headers=admin, json={"name": "ivy", "roles": ["analyst"]})
    client.get("/api/v1/whoami")  # a refusal, audited too
    report = client.get("/api/v1/audit/verify", headers=admin).json()
    assert report["ok"] is True
    assert report["bad_seq"] is None
    entries = audit(client, admin)
    assert report["checked"] == len(entries) >= 3
    for before, after in itertools.pairwise(entries):
        assert after["prev_hash"] == before["hash"]
        assert after["seq"] == before["seq"] + 1
    target = next(e for e in entries if e["subject"] == "user:ivy")

    with node.database.transaction() as session:
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == target["seq"])
            .values(detail={"roles": ["admin"]})
        )
    report = client.get("/api/v1/audit/verify", headers=admin).json()
    assert report["ok"] is False
    assert report["bad_seq"] == target["seq"]
    assert "altered" in report["reason"]


def test_audit_paging_and_filter(client: TestClient, admin: dict[str, str]) -> None:
    for name in ("u1", "u2", "u3"):
        client.post("/api/v1/users", headers=admin, json={"name": name, "roles": ["analyst"]})
    everything = audit(client, admin)
    page = audit(client, admin, after=everything[0]["seq"], limit=2)
    assert [e["seq"] for e in page] == [e["seq"] for e in everything[1:3]]
    assert {e["action"] for e in audit(client, admin, action="user.add")} == {"user.add"}
    assert_problem(
        client.get("/api/v1/audit", headers=admin, params={"limit": 0}), 422, "input.invalid"
    )


# --- events and dead letters ----------------------------------------------------------------


@pytest.fixture
def fragile_node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    """A node that dead-letters an event after one failed delivery."""
    the_node = make_node(tmp_path / "d", database_url=database_url, bus_max_attempts=1)
    yield the_node
    the_node.close()


def test_dead_letters_are_listed_and_replayed(fragile_node: Node) -> None:
    node = fragile_node
    broken = True
    delivered: list[str] = []

    def handler(session: Session, event: Event) -> None:
        if broken:
            raise RuntimeError(f"cannot handle {event.type}")
        delivered.append(event.id)

    node.dispatcher.subscribe("boom", handler, types=["test.*"])
    admin = bearer(issue_token(node, name="admin", roles=["admin"]))
    auditor = bearer(issue_token(node, name="aud", roles=["auditor"]))
    with TestClient(create_app(node=node)) as client:
        with node.database.transaction() as session:
            event = emit(
                session, type="test.boom", actor="test", payload={"n": 1}, clock=node.clock
            )
            event_id, event_seq = event.id, event.seq
        report = node.dispatcher.run_once()
        assert report.dead_lettered == 1

        response = client.get("/api/v1/events/dead-letters", headers=auditor)
        assert response.status_code == 200
        [letter] = response.json()
        assert letter["subscriber"] == "boom"
        assert letter["event_seq"] == event_seq
        assert letter["attempts"] == 1
        assert "cannot handle test.boom" in letter["error"]
        assert letter["replay_requested"] is False

        assert_problem(
            client.post("/api/v1/events/dead-letters/replay", json={}, headers=auditor),
            403,
            "auth.forbidden",
        )
        assert_problem(
            client.post(
                "/api/v1/events/dead-letters/replay", json={"ids": [999999]}, headers=admin
            ),
            422,
            "input.invalid",
        )

        broken = False
        response = client.post(
            "/api/v1/events/dead-letters/replay", json={"subscriber": "boom"}, headers=admin
        )
        assert response.status_code == 202, response.text
        assert response.json() == {"queued": [letter["id"]]}
        [pending] = client.get("/api/v1/events/dead-letters", headers=admin).json()
        assert pending["replay_requested"] is True
        assert delivered == []

        assert node.dispatcher.run_once().replayed == 1
        assert delivered == [event_id]
        assert client.get("/api/v1/events/dead-letters", headers=admin).json() == []
        [entry] = audit(client, admin, action="events.dlq.replay")
        assert (entry["actor"], entry["detail"]) == ("user:admin", {"ids": [letter["id"]]})
        replay_events = client.get(
            "/api/v1/events", headers=admin, params={"type": "events.dlq.*"}
        ).json()
        assert [e["type"] for e in replay_events] == ["events.dlq.replay"]


def test_events_are_listed_in_order_and_filtered(client: TestClient, admin: dict[str, str]) -> None:
    for name in ("j1", "j2"):
        client.post("/api/v1/users", headers=admin, json={"name": name, "roles": ["analyst"]})
    everything = client.get("/api/v1/events", headers=admin).json()
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(seqs)
    assert [e["type"] for e in everything] == [
        "user.add",
        "token.create",
        "user.add",
        "user.add",
    ]
    users = client.get(
        "/api/v1/events", headers=admin, params={"type": "user.*", "after": seqs[0]}
    ).json()
    assert [e["subject"] for e in users] == ["user:j1", "user:j2"]
    two = client.get(
        "/api/v1/events", headers=admin, params=[("type", "token.create"), ("type", "user.add")]
    ).json()
    assert len(two) == 4
