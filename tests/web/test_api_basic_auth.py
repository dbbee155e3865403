"""HTTP Basic credentials (TAXII requires them): a peer code and its token, on any API route."""

from __future__ import annotations

import base64

import pytest
from api_helpers import assert_problem, audit, bearer, peer_body
from fastapi.testclient import TestClient

from watchkeeper.node import Node
from watchkeeper.security import create_token, parse_duration, peer_account
from watchkeeper.testing import issue_token


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@pytest.fixture
def peer_token(client: TestClient, node: Node, admin: dict[str, str]) -> str:
    """The token of partner node QA-NCSA's service account."""
    assert client.post("/api/v1/peers", json=peer_body(), headers=admin).status_code == 201
    with node.database.transaction() as session:
        account = peer_account(session, clock=node.clock, actor="test", code="QA-NCSA")
        return create_token(
            session,
            clock=node.clock,
            actor="test",
            user_name=account.name,
            expires_in=parse_duration("30d"),
        ).secret


@pytest.mark.parametrize("user", ["QA-NCSA", "qa-ncsa"])  # RFC 7617: no colon in a user
def test_peer_code_and_token_authenticate_as_the_peer(
    client: TestClient, peer_token: str, user: str
) -> None:
    response = client.get("/api/v1/whoami", headers=basic(user, peer_token))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "peer:qa-ncsa"
    assert response.json()["roles"] == ["partner-node"]
    # The same as the bearer form of the same token.
    assert client.get("/api/v1/whoami", headers=bearer(peer_token)).json() == response.json()


def test_a_staff_account_may_use_basic_with_its_own_name(client: TestClient, node: Node) -> None:
    secret = issue_token(node, name="alice", roles=["analyst"])
    response = client.get("/api/v1/peers", headers=basic("alice", secret))
    assert response.status_code == 200, response.text


def test_basic_keeps_roles(client: TestClient, peer_token: str) -> None:
    assert_problem(
        client.get("/api/v1/peers", headers=basic("QA-NCSA", peer_token)), 403, "auth.forbidden"
    )


def test_bad_basic_credentials_are_refused_and_audited(
    client: TestClient, node: Node, admin: dict[str, str], peer_token: str
) -> None:
    alice = issue_token(node, name="alice", roles=["analyst"])
    token_id = peer_token.split("_")[1]
    cases = [
        (basic("KE-CERT", peer_token), "user_mismatch", f"token:{token_id}"),
        (basic("alice", peer_token), "user_mismatch", f"token:{token_id}"),
        (basic("QA-NCSA", alice), "user_mismatch", f"token:{alice.split('_')[1]}"),
        (basic("QA-NCSA", "not-a-token"), "malformed", None),
        (basic("QA-NCSA", ""), "malformed", None),
        ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, "malformed", None),
        ({"Authorization": "Basic %%%"}, "malformed", None),
        ({"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}, "malformed", None),
        ({"Authorization": "Basic"}, "missing", None),
    ]
    for headers, reason, _ in cases:
        response = client.get("/api/v1/whoami", headers=headers)
        body = assert_problem(response, 401, "auth.unauthenticated")
        assert body["reason"] == reason, headers
        assert peer_token not in response.text
    entries = audit(client, admin, action="auth.token")
    assert [(e["detail"]["reason"], e["subject"]) for e in entries] == [
        (reason, subject) for _, reason, subject in cases
    ]
    ledger = client.get("/api/v1/audit", headers=admin, params={"limit": 1000}).text
    assert peer_token not in ledger


def test_a_removed_peer_cannot_use_basic(
    client: TestClient, admin: dict[str, str], peer_token: str
) -> None:
    assert client.delete("/api/v1/peers/QA-NCSA", headers=admin).status_code == 204
    body = assert_problem(
        client.get("/api/v1/whoami", headers=basic("QA-NCSA", peer_token)),
        401,
        "auth.unauthenticated",
    )
    assert body["reason"] == "disabled"
