"""The evidence pages: the vault list and its filters, one item with its custody timeline,
"Verify now", the check-out and check-in forms; sessions, roles and CSRF."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_ui import csrf_of, log_in, make_user

from watchkeeper.evidence import add_evidence, content_path, custody_timeline
from watchkeeper.node import Node
from watchkeeper.respond.cases import open_case


@pytest.fixture
def vault(node: Node, tmp_path: Path) -> dict[str, Any]:
    node.init_identity(actor="test", code="QA-NCSA", name="Test agency", country="QA")
    with node.database.transaction() as session:
        case = open_case(
            session, clock=node.clock, actor="user:seed", title="Intrusion", severity=None, tlp=None
        )
    source = tmp_path / "proxy.log"
    source.write_bytes(b"GET http://c2.example/ 200\n" * 50)
    item = add_evidence(
        node=node,
        actor="user:seed",
        role="evidence-officer",
        paths=[source],
        case_ref=case["id"],
        authority="W-77",
        kind="log",
    )[0]
    stray = tmp_path / "other.bin"
    stray.write_bytes(b"unrelated")
    add_evidence(
        node=node, actor="user:seed", role="evidence-officer", paths=[stray], case_ref=None
    )
    return {"case": case, "item": item}


def _login(client: TestClient, node: Node, role: str) -> TestClient:
    make_user(node, f"{role}-user", [role])
    assert log_in(client, f"{role}-user").status_code == 303
    return client


def _actions(node: Node, item: str) -> list[str]:
    with node.database.reader() as session:
        return [e["action"] for e in custody_timeline(session, item=item)["custody"]]


def test_pages_and_forms_need_a_session(
    client: TestClient, node: Node, vault: dict[str, Any]
) -> None:
    item = vault["item"]["id"]
    for path in ("/ui/evidence", f"/ui/evidence/{item}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    response = client.post(
        f"/ui/evidence/{item}/checkout", data={"csrf": "x", "purpose": "p"}, follow_redirects=False
    )
    assert response.headers["location"] == "/ui/login"
    assert _actions(node, item) == ["collect"]


@pytest.mark.parametrize("role", ["partner-node", "poc-officer"])
def test_other_roles_are_refused(
    client: TestClient, node: Node, vault: dict[str, Any], role: str
) -> None:
    _login(client, node, role)
    for path in ("/ui/evidence", f"/ui/evidence/{vault['item']['id']}"):
        assert client.get(path).status_code == 403


def test_list_filters_by_case_and_status(
    client: TestClient, node: Node, vault: dict[str, Any]
) -> None:
    _login(client, node, "auditor")
    every = client.get("/ui/evidence").text
    assert "proxy.log" in every and "other.bin" in every
    by_case = client.get("/ui/evidence", params={"case": vault["case"]["number"]}).text
    assert "proxy.log" in by_case and "other.bin" not in by_case
    out = client.get("/ui/evidence", params={"status": "checked-out"}).text
    assert "proxy.log" not in out and "No evidence item matches" in out
    unknown = client.get("/ui/evidence", params={"case": "C-1999-0001"})
    assert unknown.status_code == 200 and "no case" in html.unescape(unknown.text)


def test_case_page_links_to_its_evidence(
    client: TestClient, node: Node, vault: dict[str, Any]
) -> None:
    _login(client, node, "responder")
    page = client.get(f"/ui/cases/{vault['case']['id']}").text
    assert f"/ui/evidence?case={vault['case']['id']}" in page


def test_item_page_shows_custody_and_verifies(
    client: TestClient, node: Node, vault: dict[str, Any]
) -> None:
    _login(client, node, "legal-reviewer")
    item = vault["item"]
    page = client.get(f"/ui/evidence/{item['exhibit_number']}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert item["sha256"] in text and item["md5"] in text and "W-77" in text
    assert "collect" in text and "user:seed" in text
    assert f"/ui/cases/{vault['case']['id']}" in text
    assert "Check out" not in text  # a legal reviewer reads, does not handle
    ok = client.post(f"/ui/evidence/{item['id']}/verify", data={"csrf": csrf_of(page.text)})
    assert ok.status_code == 200 and "State: ok" in ok.text
    stored = content_path(node.data_dir, item["sha256"])
    stored.chmod(0o600)
    stored.write_bytes(b"swapped")
    failed = client.post(f"/ui/evidence/{item['id']}/verify", data={"csrf": csrf_of(page.text)})
    assert "Verification FAILED" in failed.text
    assert item["exhibit_number"] in html.unescape(failed.text)
    stale = client.post(f"/ui/evidence/{item['id']}/verify", data={"csrf": "stale"})
    assert stale.status_code == 403


def test_checkout_and_checkin_forms(client: TestClient, node: Node, vault: dict[str, Any]) -> None:
    _login(client, node, "evidence-officer")
    item = vault["item"]["id"]
    page = client.get(f"/ui/evidence/{item}")
    csrf = csrf_of(page.text)
    stale = client.post(f"/ui/evidence/{item}/checkout", data={"csrf": "stale", "purpose": "p"})
    assert stale.status_code == 403
    blank = client.post(f"/ui/evidence/{item}/checkout", data={"csrf": csrf, "purpose": " "})
    assert blank.status_code == 422
    assert _actions(node, item) == ["collect"]
    out = client.post(
        f"/ui/evidence/{item}/checkout",
        data={"csrf": csrf, "purpose": "carve files", "location": "lab 2"},
        follow_redirects=False,
    )
    assert out.status_code == 303 and "checked+out" in out.headers["location"]
    after = html.unescape(client.get(f"/ui/evidence/{item}").text)
    assert "carve files" in after and "Check in" in after
    back = client.post(
        f"/ui/evidence/{item}/checkin",
        data={"csrf": csrf, "purpose": "done"},
        follow_redirects=False,
    )
    assert back.status_code == 303
    assert _actions(node, item) == ["collect", "check-out", "check-in"]
