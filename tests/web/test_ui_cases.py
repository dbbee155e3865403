"""The case pages: the board, one case, the new-case form and every form on the case page;
sessions, roles and CSRF."""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from detect_samples import Sample, seed_alerts
from fastapi.testclient import TestClient
from test_ui import csrf_of, ledger, log_in, make_user

from watchkeeper.node import Node
from watchkeeper.respond.cases import case_view, open_case


@pytest.fixture
def sample(node: Node, tmp_path: Path) -> Sample:
    return seed_alerts(node, tmp_path)


def _login(client: TestClient, node: Node, role: str) -> TestClient:
    make_user(node, f"{role}-user", [role])
    assert log_in(client, f"{role}-user").status_code == 303
    return client


def _case(node: Node, **fields: object) -> dict[str, object]:
    values: dict[str, object] = {"title": "Beacon to C2", "severity": None, "tlp": None}
    values.update(fields)
    with node.database.transaction() as session:
        return open_case(session, clock=node.clock, actor="user:seed", **values)  # type: ignore[arg-type]


def _view(node: Node, case_id: object) -> dict[str, object]:
    with node.database.reader() as session:
        return case_view(session, case_id=str(case_id), intel=False)


def test_pages_and_forms_need_a_session(client: TestClient, node: Node) -> None:
    case = _case(node)
    for path in ("/ui/cases", "/ui/cases/new", f"/ui/cases/{case['id']}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    for path, data in [
        ("/ui/cases/new", {"csrf": "x", "title": "t"}),
        (f"/ui/cases/{case['id']}/notes", {"csrf": "x", "text": "hello"}),
    ]:
        response = client.post(path, data=data, follow_redirects=False)
        assert response.headers["location"] == "/ui/login"
    assert _view(node, case["id"])["notes"] == []


@pytest.mark.parametrize("role", ["evidence-officer", "partner-node", "legal-reviewer"])
def test_other_roles_are_refused(client: TestClient, node: Node, role: str) -> None:
    case = _case(node)
    _login(client, node, role)
    for path in ("/ui/cases", f"/ui/cases/{case['id']}", "/ui/cases/new"):
        response = client.get(path)
        assert response.status_code == 403 and "<h1>Forbidden</h1>" in response.text, path
    csrf = csrf_of(client.get("/ui/account").text)
    refused = client.post(f"/ui/cases/{case['id']}/notes", data={"csrf": csrf, "text": "x"})
    assert refused.status_code == 403 and _view(node, case["id"])["notes"] == []


def test_auditor_reads_without_forms(client: TestClient, node: Node) -> None:
    case = _case(node, template="phishing")
    _login(client, node, "auditor")
    board = client.get("/ui/cases").text
    assert f'href="/ui/cases/{case["id"]}"' in board and "Open a case" not in board
    page = client.get(f"/ui/cases/{case['number']}").text
    assert "Preserve the message" in page
    assert 'name="csrf"' not in page.split("</header>", 1)[1]  # only the logout form has one
    assert client.get("/ui/cases/new").status_code == 403
    csrf = csrf_of(client.get("/ui/account").text)
    refused = client.post(f"/ui/cases/{case['id']}/notes", data={"csrf": csrf, "text": "x"})
    assert refused.status_code == 403


def test_board_has_a_column_per_status_and_filters(client: TestClient, node: Node) -> None:
    _case(node, title="Wiper at the port", severity="critical")
    _case(node, title="Spam run", severity="low")
    _login(client, node, "analyst")
    area = client.get("/ui/respond").text
    assert 'href="/ui/cases"' in area and "not yet installed" not in area
    text = client.get("/ui/cases").text
    for status in ("new", "triage", "investigating", "contained", "closed"):
        assert f'<th scope="col">{status} ' in text
    assert 'aria-label="2 cases in all">2</span>' in text
    assert "Wiper at the port" in text and "Spam run" in text
    critical = client.get("/ui/cases", params={"severity": "critical"}).text
    assert "Wiper at the port" in critical and "Spam run" not in critical
    bad = client.get("/ui/cases", params={"severity": "urgent"})
    assert bad.status_code == 200 and "severity must be one of" in bad.text


def test_case_page_forms_change_the_case(client: TestClient, node: Node, sample: Sample) -> None:
    make_user(node, "bo", ["responder"])
    _login(client, node, "analyst")
    form = client.get("/ui/cases/new", params={"alert_ids": sample.ws1}).text
    assert "indicator-hit" in form and sample.ws1 in form
    created = client.post(
        "/ui/cases/new",
        data={
            "csrf": csrf_of(form),
            "title": "C2 beacons",
            "template": "indicator-hit",
            "alert_ids": sample.ws1,
            "campaign": "Op Lantern",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    where = created.headers["location"]
    assert "opened" in unquote_plus(where)
    page = client.get(where)
    text = html.unescape(page.text)
    case_id = where.split("/ui/cases/", 1)[1].split("?", 1)[0]
    assert "C-2026-0001: Indicator hit: C2 beacons" in text
    assert f'href="/ui/detect/alerts/{sample.ws1}"' in text
    assert f'href="/ui/intel/object/{sample.indicator}"' in text  # the domain observable
    assert "Op Lantern" in text and "case opened" in text
    csrf = csrf_of(page.text)
    base = f"/ui/cases/{case_id}"
    steps = [
        ("/assign", {"assignee": "bo"}, "assigned to bo"),
        ("/status", {"status": "contained"}, "status set to contained"),
        ("/notes", {"text": "Owner <reached>"}, "note added"),
        ("/tasks", {"title": "Reimage", "mandatory": "on"}, "task added: Reimage"),
        (
            "/observables",
            {"kind": "ipv4", "value": "45.77.10.20", "ioc": "on"},
            "ipv4 45.77.10.20 added; known to intel: 1",
        ),
        ("/alerts", {"alert_ids": sample.ws2}, "1 alert(s) merged"),
    ]
    for suffix, data, said in steps:
        done = client.post(base + suffix, data={"csrf": csrf, **data}, follow_redirects=False)
        assert done.status_code == 303, (suffix, done.text)
        assert said in unquote_plus(done.headers["location"]), suffix
    view = _view(node, case_id)
    assert view["case"]["assignee"] == "bo" and view["case"]["status"] == "contained"  # type: ignore[index]
    page_text = client.get(base).text
    assert "Owner &lt;reached&gt;" in page_text and "<reached>" not in page_text
    for task in view["tasks"]:  # type: ignore[attr-defined]
        done = client.post(
            f"{base}/tasks/{task['id']}",
            data={"csrf": csrf, "status": "completed"},
            follow_redirects=False,
        )
        assert done.status_code == 303
    closed = client.post(
        f"{base}/close",
        data={"csrf": csrf, "disposition": "true-positive", "reason": "confirmed"},
        follow_redirects=False,
    )
    assert "closed as true-positive" in unquote_plus(closed.headers["location"])
    final = client.get(base).text
    assert "(reopen)" in final and "Close the case" not in final
    assert [e["subject"] for e in ledger(node, "case.close")] == [case_id]


def test_stale_csrf_and_bad_input_change_nothing(client: TestClient, node: Node) -> None:
    case = _case(node)
    _login(client, node, "responder")
    base = f"/ui/cases/{case['id']}"
    csrf = csrf_of(client.get(base).text)
    stale = client.post(f"{base}/notes", data={"csrf": "stale", "text": "x"})
    assert stale.status_code == 403 and "CSRF" in stale.text
    bad = client.post(f"{base}/status", data={"csrf": csrf, "status": "closed"})
    assert bad.status_code == 422 and "close" in bad.text
    cycle = client.post(f"{base}/links", data={"csrf": csrf, "parent_id": str(case["number"])})
    assert cycle.status_code == 422 and "cycle" in cycle.text
    missing = client.get("/ui/cases/C-2026-0404")
    assert missing.status_code == 404 and "C-2026-0404" in missing.text
    assert _view(node, case["id"])["notes"] == []
