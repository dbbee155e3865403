"""The evidence API: roles, list and filters, one item's custody, verify, check-out/check-in,
content download (a custody event each time) and intake by upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_helpers import assert_problem, bearer
from fastapi.testclient import TestClient

from watchkeeper.evidence import add_evidence, content_path
from watchkeeper.node import Node
from watchkeeper.respond.cases import open_case
from watchkeeper.testing import issue_token

CONTENT = b"MZ demo evidence bytes\n" * 1000


@pytest.fixture
def vault(node: Node, tmp_path: Path) -> dict[str, Any]:
    """A keyed node with one case and one sealed item in it."""
    node.init_identity(actor="test", code="QA-NCSA", name="Test agency", country="QA")
    with node.database.transaction() as session:
        case = open_case(
            session,
            clock=node.clock,
            actor="user:seed",
            title="Ransomware",
            severity=None,
            tlp=None,
        )
    source = tmp_path / "seized.log"
    source.write_bytes(CONTENT)
    item = add_evidence(
        node=node,
        actor="user:seed",
        role="evidence-officer",
        paths=[source],
        case_ref=case["id"],
        authority="W-1",
        kind="log",
    )[0]
    return {"case": case, "item": item}


def _as(node: Node, *roles: str) -> dict[str, str]:
    return bearer(
        issue_token(node, name="-".join(roles) + "-user", roles=list(roles), expires="1y")
    )


def test_a_token_is_needed(client: TestClient, vault: dict[str, Any]) -> None:
    assert_problem(client.get("/api/v1/evidence"), 401, "auth.unauthenticated")


@pytest.mark.parametrize("role", ["partner-node", "poc-officer"])
def test_other_roles_are_refused(
    client: TestClient, node: Node, vault: dict[str, Any], role: str
) -> None:
    headers = _as(node, role)
    item = vault["item"]["id"]
    assert_problem(client.get("/api/v1/evidence", headers=headers), 403, "auth.forbidden")
    assert_problem(client.get(f"/api/v1/evidence/{item}", headers=headers), 403, "auth.forbidden")


@pytest.mark.parametrize("role", ["auditor", "legal-reviewer"])
def test_read_only_roles_read_and_verify_but_touch_nothing(
    client: TestClient, node: Node, vault: dict[str, Any], role: str
) -> None:
    headers = _as(node, role)
    item = vault["item"]["id"]
    assert client.get("/api/v1/evidence", headers=headers).json()["total"] == 1
    assert client.post(f"/api/v1/evidence/{item}/verify", headers=headers).json()["ok"] is True
    body = {"purpose": "look"}
    refused = client.post(f"/api/v1/evidence/{item}/checkout", json=body, headers=headers)
    assert_problem(refused, 403, "auth.forbidden")
    download = client.get(f"/api/v1/evidence/{item}/content?purpose=x", headers=headers)
    assert_problem(download, 403, "auth.forbidden")
    custody = client.get(f"/api/v1/evidence/{item}", headers=headers).json()["custody"]
    assert [e["action"] for e in custody] == ["collect"]


def test_list_filters_and_pages(
    client: TestClient, node: Node, admin: dict[str, str], vault: dict[str, Any], tmp_path: Path
) -> None:
    other = tmp_path / "image.dd"
    other.write_bytes(b"\x00" * 4096)
    add_evidence(
        node=node,
        actor="t",
        role="evidence-officer",
        paths=[other],
        case_ref=None,
        kind="disk-image",
    )
    number = vault["case"]["number"]
    by_case = client.get("/api/v1/evidence", params={"case": number}, headers=admin).json()
    assert [i["id"] for i in by_case["items"]] == [vault["item"]["id"]]
    by_kind = client.get("/api/v1/evidence", params={"kind": "disk-image"}, headers=admin).json()
    assert [i["original_name"] for i in by_kind["items"]] == ["image.dd"]
    paged = client.get("/api/v1/evidence", params={"limit": 1, "offset": 1}, headers=admin).json()
    assert paged["total"] == 2 and len(paged["items"]) == 1
    none = client.get("/api/v1/evidence", params={"status": "checked-out"}, headers=admin).json()
    assert none["items"] == []
    bad = client.get("/api/v1/evidence", params={"status": "lost"}, headers=admin)
    assert_problem(bad, 422, "input.invalid")
    missing = client.get("/api/v1/evidence", params={"case": "C-1999-0001"}, headers=admin)
    assert_problem(missing, 404, "not_found")


def test_item_by_exhibit_number_has_its_timeline(
    client: TestClient, admin: dict[str, str], vault: dict[str, Any]
) -> None:
    found = client.get(f"/api/v1/evidence/{vault['item']['exhibit_number']}", headers=admin)
    assert found.status_code == 200
    body = found.json()
    assert body["sha256"] == vault["item"]["sha256"]
    assert body["custody"][0]["action"] == "collect"
    assert body["custody"][0]["authority_ref"] == "W-1"
    assert_problem(client.get("/api/v1/evidence/E-1-9999", headers=admin), 404, "not_found")


def test_checkout_checkin_and_download_write_custody(
    client: TestClient, node: Node, vault: dict[str, Any]
) -> None:
    headers = _as(node, "evidence-officer")
    item = vault["item"]["id"]
    no_purpose = client.post(f"/api/v1/evidence/{item}/checkout", json={}, headers=headers)
    assert no_purpose.status_code == 422
    out = client.post(
        f"/api/v1/evidence/{item}/checkout", json={"purpose": "imaging"}, headers=headers
    )
    assert out.status_code == 200 and out.json()["status"] == "checked-out"
    again = client.post(f"/api/v1/evidence/{item}/checkout", json={"purpose": "x"}, headers=headers)
    assert_problem(again, 409, "conflict")
    back = client.post(
        f"/api/v1/evidence/{item}/checkin", json={"purpose": "done"}, headers=headers
    )
    assert back.status_code == 200 and back.json()["status"] == "sealed"
    blank = client.get(f"/api/v1/evidence/{item}/content", headers=headers)
    assert blank.status_code == 422
    download = client.get(
        f"/api/v1/evidence/{item}/content", params={"purpose": "timeline analysis"}, headers=headers
    )
    assert download.status_code == 200
    assert download.content == CONTENT
    assert download.headers["x-evidence-sha256"] == vault["item"]["sha256"]
    assert "seized.log" in download.headers["content-disposition"]
    custody = client.get(f"/api/v1/evidence/{item}", headers=headers).json()["custody"]
    assert [(e["action"], e["actor"]) for e in custody][1:] == [
        ("check-out", "user:evidence-officer-user"),
        ("check-in", "user:evidence-officer-user"),
        ("analyse", "user:evidence-officer-user"),
    ]
    assert custody[3]["purpose"] == "timeline analysis"
    assert custody[2]["hash_after"] == vault["item"]["sha256"]


def test_verify_names_a_swapped_content_file(
    client: TestClient, node: Node, admin: dict[str, str], vault: dict[str, Any]
) -> None:
    assert client.post("/api/v1/evidence/verify", json={"all": True}, headers=admin).json()["ok"]
    assert_problem(
        client.post("/api/v1/evidence/verify", json={}, headers=admin), 422, "input.invalid"
    )
    stored = content_path(node.data_dir, vault["item"]["sha256"])
    stored.chmod(0o600)
    stored.write_bytes(b"tampered")
    report = client.post(
        "/api/v1/evidence/verify", json={"items": [vault["item"]["exhibit_number"]]}, headers=admin
    ).json()
    assert report["ok"] is False
    assert any(vault["item"]["exhibit_number"] in f["line"] for f in report["failures"])


def test_upload_registers_an_item_and_leaves_no_spool(
    client: TestClient, node: Node, vault: dict[str, Any]
) -> None:
    headers = _as(node, "responder")
    fields = {
        "case": vault["case"]["number"],
        "authority": "W-2",
        "kind": "memory",
        "exhibit": "M-1",
    }
    answer = client.post(
        "/api/v1/evidence",
        data=fields,
        files={"file": ("../../ram dump.bin", b"\x01\x02" * 5000, "application/octet-stream")},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    item = answer.json()
    assert item["exhibit_number"] == "M-1" and item["kind"] == "memory"
    assert item["size"] == 10000 and item["original_name"] == "ram_dump.bin"
    assert item["case_ref"] == vault["case"]["id"]
    assert item["legal"]["authority_ref"] == "W-2"
    assert item["acquisition"]["role"] == "responder"
    assert list((node.data_dir / "spool").iterdir()) == []
    no_case = client.post("/api/v1/evidence", files={"file": ("a.bin", b"x")}, headers=headers)
    assert_problem(no_case, 422, "input.invalid")
    no_file = client.post(
        "/api/v1/evidence", data={"case": "x"}, files={"x": ("", b"")}, headers=headers
    )
    assert no_file.status_code == 422
    auditor = client.post(
        "/api/v1/evidence",
        data=fields,
        files={"file": ("a.bin", b"x")},
        headers=_as(node, "analyst"),
    )
    assert_problem(auditor, 403, "auth.forbidden")
    assert client.get("/api/v1/evidence", headers=headers).json()["total"] == 2
