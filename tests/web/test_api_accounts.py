"""API accounts: creating users and issuing, listing and revoking tokens."""

from __future__ import annotations

import re
from typing import Any

import pytest
from api_helpers import assert_problem, audit, bearer
from fastapi.testclient import TestClient

from watchkeeper.node import Node
from watchkeeper.security import ROLES
from watchkeeper.testing import FIXED_START, issue_token

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
