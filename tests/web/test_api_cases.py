"""The cases API: open, list, show, change, assign, move, close; tasks, notes, observables,
merged alerts, links; escalation through the API opening a case; who may do what."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import assert_problem, audit, bearer
from detect_samples import Sample, seed_alerts
from fastapi.testclient import TestClient

from watchkeeper.detect.models import Alert
from watchkeeper.node import Node
from watchkeeper.testing import issue_token

CASES = "/api/v1/cases"
ROUTES = [
    ("GET", CASES),
    ("GET", f"{CASES}/counts"),
    ("GET", f"{CASES}/templates"),
    ("POST", CASES),
    ("GET", f"{CASES}/C-2026-0001"),
    ("PATCH", f"{CASES}/C-2026-0001"),
    ("POST", f"{CASES}/C-2026-0001/assign"),
    ("POST", f"{CASES}/C-2026-0001/status"),
    ("POST", f"{CASES}/C-2026-0001/close"),
    ("POST", f"{CASES}/C-2026-0001/notes"),
    ("POST", f"{CASES}/C-2026-0001/tasks"),
    ("PATCH", f"{CASES}/C-2026-0001/tasks/t1"),
    ("POST", f"{CASES}/C-2026-0001/observables"),
    ("POST", f"{CASES}/C-2026-0001/alerts"),
    ("POST", f"{CASES}/C-2026-0001/links"),
]
WRITES = [(m, p) for m, p in ROUTES if m != "GET"]


@pytest.fixture
def sample(node: Node, tmp_path: Path) -> Sample:
    return seed_alerts(node, tmp_path)


def _as(node: Node, role: str) -> dict[str, str]:
    return bearer(issue_token(node, name=f"{role}-user", roles=[role]))


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_token(client: TestClient, method: str, path: str) -> None:
    assert_problem(client.request(method, path, json={}), 401, "auth.unauthenticated")


@pytest.mark.parametrize("role", ["partner-node", "evidence-officer", "legal-reviewer"])
def test_roles_without_cases_are_refused(client: TestClient, node: Node, role: str) -> None:
    headers = _as(node, role)
    for method, path in ROUTES:
        body = assert_problem(
            client.request(method, path, headers=headers, json={}), 403, "auth.forbidden"
        )
        assert "partner-node" not in body["needed"], path


def test_auditor_and_poc_officer_read_but_do_not_change(
    client: TestClient, node: Node, admin: dict[str, str]
) -> None:
    number = client.post(CASES, headers=admin, json={"title": "Defacement"}).json()["number"]
    for role in ("auditor", "poc-officer"):
        headers = _as(node, role)
        assert client.get(CASES, headers=headers).json()["total"] == 1
        assert client.get(f"{CASES}/{number}", headers=headers).status_code == 200
        for method, path in WRITES:
            refused = client.request(
                method, path.replace("C-2026-0001", number), headers=headers, json={"title": "x"}
            )
            assert_problem(refused, 403, "auth.forbidden")


def test_case_lifecycle_over_the_api(
    client: TestClient, node: Node, admin: dict[str, str], sample: Sample
) -> None:
    analyst = _as(node, "analyst")
    issue_token(node, name="bo", roles=["responder"])
    created = client.post(
        CASES,
        headers=analyst,
        json={
            "title": "C2 beacons",
            "template": "indicator-hit",
            "alert_ids": [sample.ws1],
            "campaign": "Op Lantern",
        },
    )
    assert created.status_code == 201, created.text
    case = created.json()
    path = f"{CASES}/{case['number']}"
    assert case["severity"] == "high" and case["campaign"] == "Op Lantern"
    patched = client.patch(
        path, headers=analyst, json={"severity": "critical", "tlp": "amber+strict"}
    )
    assert patched.json()["severity"] == "critical" and patched.json()["tlp"] == "amber+strict"
    assert (
        client.post(f"{path}/assign", headers=analyst, json={"assignee": "bo"}).json()["assignee"]
        == "bo"
    )
    merged = client.post(f"{path}/alerts", headers=analyst, json={"alert_ids": [sample.ws2]})
    assert merged.json()["merged"] == [sample.ws2]
    note = client.post(f"{path}/notes", headers=analyst, json={"text": "Owner reached"})
    assert note.status_code == 201
    task = client.post(
        f"{path}/tasks", headers=analyst, json={"title": "Reimage", "mandatory": True}
    )
    assert task.status_code == 201
    observed = client.post(
        f"{path}/observables",
        headers=analyst,
        json={"kind": "domain", "value": "CDN.Evil-Site.ORG.", "ioc": True},
    )
    assert observed.status_code == 201 and observed.json()["created"]
    assert observed.json()["observable"]["value"] == "cdn.evil-site.org"
    assert [i["id"] for i in observed.json()["intel"]] == [sample.indicator]  # the parent's
    known = client.post(
        f"{path}/observables", headers=analyst, json={"kind": "domain", "value": "evil-site.org"}
    )
    assert not known.json()["created"]  # merged from the alert already
    moved = client.post(f"{path}/status", headers=analyst, json={"status": "contained"})
    assert moved.json()["status"] == "contained"
    refused = client.post(
        f"{path}/close",
        headers=analyst,
        json={"disposition": "true-positive", "reason": "confirmed"},
    )
    assert_problem(refused, 409, "conflict")
    view = client.get(path, headers=analyst).json()
    for item in view["tasks"]:
        done = client.patch(
            f"{path}/tasks/{item['id']}", headers=analyst, json={"status": "completed"}
        )
        assert done.json()["completed_by"] == "user:analyst-user"
    closed = client.post(
        f"{path}/close",
        headers=analyst,
        json={"disposition": "true-positive", "reason": "confirmed"},
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    view = client.get(f"{CASES}/{case['id']}", headers=analyst).json()
    assert {a["id"] for a in view["alerts"]} == {sample.ws1, sample.ws2}
    assert {a["status"] for a in view["alerts"]} == {"closed"}
    kinds = [entry["kind"] for entry in view["timeline"]]
    for kind in (
        "case.open",
        "case.update",
        "case.assign",
        "case.merge",
        "case.note",
        "case.task",
        "case.observable",
        "case.status",
        "case.close",
    ):
        assert kind in kinds, kind
    listed = client.get(
        CASES, headers=analyst, params={"status": "closed", "campaign": "Op Lantern"}
    )
    assert [c["number"] for c in listed.json()["cases"]] == [case["number"]]
    counts = client.get(f"{CASES}/counts", headers=analyst).json()
    assert counts["closed"] == 1 and counts["new"] == 0
    actions = {entry["action"] for entry in audit(client, admin)}
    assert {"case.open", "case.close", "case.task"} <= actions


def test_escalation_over_the_api_opens_a_case(
    client: TestClient, node: Node, admin: dict[str, str], sample: Sample
) -> None:
    asked = client.post(
        "/api/v1/detect/alerts/escalate",
        headers=admin,
        json={"alert_ids": [sample.ws1, sample.ws2], "title": "C2 on two hosts"},
    )
    assert asked.status_code == 202
    assert node.dispatcher.run_once().failed == 0
    listed = client.get(CASES, headers=admin).json()["cases"]
    assert len(listed) == 1 and listed[0]["escalation_id"] == asked.json()["escalation"]
    alert = client.get(f"/api/v1/detect/alerts/{sample.ws1}", headers=admin).json()["alert"]
    assert alert["case_id"] == listed[0]["id"]


def test_bad_input_is_a_problem_naming_the_field(
    client: TestClient, admin: dict[str, str], sample: Sample
) -> None:
    for body, field in (
        ({"title": "x", "severity": "urgent"}, "severity"),
        ({"title": "x", "tlp": "purple"}, "tlp"),
        ({"title": "x", "template": "nope"}, "template"),
    ):
        problem = assert_problem(client.post(CASES, headers=admin, json=body), 422, "input.invalid")
        assert problem["field"] == field
    assert_problem(client.get(f"{CASES}/C-2026-0999", headers=admin), 404, "not_found")
    number = client.post(CASES, headers=admin, json={"title": "x"}).json()["number"]
    bad = client.post(f"{CASES}/{number}/status", headers=admin, json={"status": "closed"})
    assert assert_problem(bad, 422, "input.invalid")["field"] == "status"
    cycle = client.post(f"{CASES}/{number}/links", headers=admin, json={"parent_id": number})
    assert assert_problem(cycle, 422, "input.invalid")["field"] == "parent_id"
    empty = client.post(f"{CASES}/{number}/alerts", headers=admin, json={"alert_ids": []})
    assert empty.status_code == 422


def test_red_alerts_make_red_cases(
    client: TestClient, node: Node, admin: dict[str, str], sample: Sample
) -> None:
    case = client.post(CASES, headers=admin, json={"title": "Tasking", "alert_ids": [sample.red]})
    assert case.json()["tlp"] == "red"
    with node.database.reader() as session:
        assert session.get_one(Alert, sample.red).case_id == case.json()["id"]
