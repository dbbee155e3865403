"""API peers: registering, listing, showing and removing partner nodes."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from api_helpers import assert_problem, audit, bearer, peer_body
from fastapi.testclient import TestClient

from watchkeeper.node import Node
from watchkeeper.testing import issue_token

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
