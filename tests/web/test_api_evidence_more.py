"""The evidence API beyond the vault basics: CASE/UCO export, retention and legal hold, the
two-approver disposal, and sealed packages built on one node and received on another."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import assert_problem, bearer
from fastapi.testclient import TestClient

from watchkeeper.evidence import add_evidence, content_path
from watchkeeper.node import Node
from watchkeeper.respond.cases import open_case
from watchkeeper.security import add_peer
from watchkeeper.testing import issue_token, make_node
from watchkeeper.web.app import create_app

CONTENT = b"From: someone\r\n\r\nclick here\r\n" * 200


@pytest.fixture
def vault(node: Node, tmp_path: Path) -> dict[str, Any]:
    """A keyed node with one case and one sealed item in it."""
    node.init_identity(actor="test", code="QA-NCSA", name="Test agency", country="QA")
    with node.database.transaction() as session:
        case = open_case(
            session, clock=node.clock, actor="user:seed", title="Phishing", severity=None, tlp=None
        )
    source = tmp_path / "mail.eml"
    source.write_bytes(CONTENT)
    item = add_evidence(
        node=node,
        actor="user:seed",
        role="evidence-officer",
        paths=[source],
        case_ref=case["id"],
        authority="W-1",
        kind="file",
    )[0]
    return {"case": case, "item": item}


def _as(node: Node, name: str, *roles: str) -> dict[str, str]:
    return bearer(issue_token(node, name=name, roles=list(roles), expires="1y"))


def _register(node: Node, other: Node) -> None:
    identity = other.identity()
    with node.database.transaction() as session:
        add_peer(
            session, clock=node.clock, actor="test", code=identity.code,
            url=f"https://{identity.code.lower()}.example", country=identity.country,
            public_key=identity.signing_public_key,
            encryption_key=identity.encryption_public_key,
        )  # fmt: skip


@pytest.fixture
def receiver(node: Node, vault: dict[str, Any], tmp_path: Path) -> Iterator[Node]:
    """A second node (FR-ANSSI); each node knows the other as a peer."""
    other = make_node(tmp_path / "receiver")
    other.init_identity(actor="test", code="FR-ANSSI", name="Agency FR", country="FR")
    _register(node, other)
    _register(other, node)
    yield other
    other.close()


def test_export_answers_a_case_document_with_an_investigation(
    client: TestClient, node: Node, vault: dict[str, Any]
) -> None:
    headers = _as(node, "analyst-1", "analyst")
    body = {"case": vault["case"]["number"], "purpose": "court disclosure"}
    answer = client.post("/api/v1/evidence/export", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    types = [n["@type"] for n in answer.json()["@graph"]]
    assert "case-investigation:Investigation" in types
    assert "case-investigation:ProvenanceRecord" in types
    item = vault["item"]["id"]
    custody = client.get(f"/api/v1/evidence/{item}", headers=headers).json()["custody"]
    assert [(e["action"], e["purpose"]) for e in custody][-1] == ("export", "court disclosure")
    nothing = client.post("/api/v1/evidence/export", json={"purpose": "x"}, headers=headers)
    assert_problem(nothing, 422, "input.invalid")
    for role in ("auditor", "partner-node"):
        refused = client.post(
            "/api/v1/evidence/export", json={"items": [item], "purpose": "x"},
            headers=_as(node, f"{role}-1", role),
        )  # fmt: skip
        assert_problem(refused, 403, "auth.forbidden")


def test_retention_hold_and_two_approver_disposal(
    client: TestClient, node: Node, vault: dict[str, Any]
) -> None:
    item = vault["item"]["id"]
    first, second, third = (_as(node, f"officer-{n}", "evidence-officer") for n in range(3))
    base = f"/api/v1/evidence/{item}"
    analyst = client.post(
        f"{base}/retention", json={"until": "2999-01-01"}, headers=_as(node, "a", "analyst")
    )
    assert_problem(analyst, 403, "auth.forbidden")
    kept = client.post(f"{base}/retention", json={"until": "2999-01-01"}, headers=first)
    assert kept.status_code == 200 and kept.json()["legal"]["retention_until"] == "2999-01-01"
    refused = client.post(f"{base}/disposal", json={"reason": "case closed"}, headers=first)
    assert_problem(refused, 409, "conflict")
    cleared = client.post(f"{base}/retention", json={"until": None}, headers=first)
    assert cleared.json()["legal"]["retention_until"] is None
    no_reason = client.post(f"{base}/hold", json={"hold": True}, headers=first)
    assert no_reason.status_code == 422
    held = client.post(f"{base}/hold", json={"hold": True, "reason": "appeal"}, headers=first)
    assert held.json()["legal"]["legal_hold"] is True
    refused = client.post(f"{base}/disposal", json={"reason": "case closed"}, headers=first)
    assert_problem(refused, 409, "conflict")
    client.post(f"{base}/hold", json={"hold": False, "reason": "appeal lost"}, headers=first)

    requested = client.post(f"{base}/disposal", json={"reason": "case closed"}, headers=first)
    assert requested.status_code == 201, requested.text
    approve = f"/api/v1/evidence/disposals/{requested.json()['id']}/approve"
    assert_problem(client.post(approve, headers=first), 403, "auth.forbidden")
    once = client.post(approve, headers=second)
    assert once.status_code == 200 and once.json()["status"] != "disposed"
    assert_problem(client.post(approve, headers=second), 409, "conflict")
    assert content_path(node.data_dir, vault["item"]["sha256"]).exists()
    done = client.post(approve, headers=third)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "disposed" and done.json()["content_removed"] is True
    assert not content_path(node.data_dir, vault["item"]["sha256"]).exists()
    assert client.get(base, headers=first).json()["status"] == "disposed"
    missing = client.post("/api/v1/evidence/disposals/nope/approve", headers=first)
    assert_problem(missing, 404, "not_found")


def test_package_built_on_one_node_is_received_on_the_other(
    client: TestClient, node: Node, vault: dict[str, Any], receiver: Node
) -> None:
    body = {
        "items": [vault["item"]["exhibit_number"]],
        "peer": "FR-ANSSI",
        "authority": "MLA-2026-17",
        "restrictions": ["court use only"],
        "purpose": "mutual legal assistance",
    }
    built = client.post("/api/v1/evidence/packages", json=body, headers=_as(node, "o", "admin"))
    assert built.status_code == 200, built.text
    assert built.headers["content-type"] == "application/x-tar"
    assert ".tar" in built.headers["content-disposition"]
    package = built.content
    with tarfile.open(fileobj=io.BytesIO(package)) as tar:
        assert "manifest.json" in tar.getnames()
    assert list((node.data_dir / "spool").iterdir()) == []
    unknown = client.post(
        "/api/v1/evidence/packages",
        json={**body, "peer": "XX-NONE"},
        headers=_as(node, "o2", "admin"),
    )
    assert unknown.status_code in (403, 404)

    with TestClient(create_app(node=receiver)) as other:
        headers = _as(receiver, "officer", "evidence-officer")
        url = "/api/v1/evidence/packages/receive"
        tampered = package.replace(b"MLA-2026-17", b"MLA-2026-18")
        files = {"file": ("pkg.tar", tampered, "application/x-tar")}
        refused = other.post(url, files=files, headers=headers)
        problem = assert_problem(refused, 422, "package.bad-signature")
        assert problem["reason"] == "bad-signature"
        assert other.get("/api/v1/evidence", headers=headers).json()["total"] == 0
        files = {"file": ("pkg.tar", package, "application/x-tar")}
        received = other.post(url, files=files, headers=headers)
        assert received.status_code == 201, received.text
        got = received.json()["items"]
        assert [i["sha256"] for i in got] == [vault["item"]["sha256"]]
        replay = other.post(url, files=files, headers=headers)
        assert 400 <= replay.status_code < 500
        assert replay.json()["reason"] == "replayed"
        partner = other.post(url, files=files, headers=_as(receiver, "p", "partner-node"))
        assert_problem(partner, 403, "auth.forbidden")
        assert list((receiver.data_dir / "spool").iterdir()) == []
