"""API authentication: 401/403 on every route, the role matrix, bad and disabled tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_helpers import KNOWN_ROUTES, api_routes, assert_problem, audit, bearer, fill, peer_body
from fastapi.testclient import TestClient

from watchkeeper.node import Node
from watchkeeper.security import create_token, parse_duration, peer_account
from watchkeeper.testing import issue_token

# The only API routes a partner node's service account may call.
PARTNER_ALLOWED = {
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/node"),
    ("GET", "/api/v1/openapi.json"),
}
# Routes authenticated by the calling node's signature instead of a token.
SIGNED = {("POST", "/api/v1/cooperation/messages")}
# A well-formed token (wk_<12 hex>_<43 url-safe>) that no node ever issued.
UNKNOWN_SECRET = "wk_0123456789ab_" + "A" * 43


# --- authentication on every route ----------------------------------------------------------


def test_signed_routes_refuse_unsigned_requests_and_tokens(
    client: TestClient, node: Node, admin: dict[str, str]
) -> None:
    partner = bearer(issue_token(node, name="peer:qa-ncsa", roles=["partner-node"]))
    for method, path in SIGNED:
        for headers in ({}, admin, partner):
            body = assert_problem(client.request(method, path, headers=headers), 401,
                                  "auth.unauthenticated")  # fmt: skip
            assert body["reason"] == "unsigned", (method, path)
    rejected = audit(client, admin, action="cooperation.message.rejected")
    assert len(rejected) == 3 * len(SIGNED)


def test_every_api_route_refuses_requests_without_token(
    client: TestClient, admin: dict[str, str]
) -> None:
    routes = [route for route in api_routes(client) if route not in SIGNED]
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
    routes = [route for route in api_routes(client) if route not in SIGNED]
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
        ("malformed", None),  # Basic credentials that are not base64 of user:token
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
