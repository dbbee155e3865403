"""The detection API: alerts listed, filtered, opened, acknowledged, closed and escalated to a
case; detection runs; who may do what."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from api_helpers import assert_problem, audit, bearer
from detect_samples import T0, Sample, seed_alerts
from fastapi.testclient import TestClient
from sqlalchemy import update

from watchkeeper.detect.models import Alert, DetectionRun
from watchkeeper.node import Node
from watchkeeper.testing import issue_token

ALERTS = "/api/v1/detect/alerts"
ROUTES = [
    ("GET", ALERTS),
    ("GET", f"{ALERTS}/counts"),
    ("GET", f"{ALERTS}/some-id"),
    ("POST", f"{ALERTS}/some-id/status"),
    ("POST", f"{ALERTS}/escalate"),
    ("GET", "/api/v1/detect/runs"),
]


@pytest.fixture
def sample(node: Node, tmp_path: Path) -> Sample:
    return seed_alerts(node, tmp_path)


def _as(node: Node, role: str) -> dict[str, str]:
    return bearer(issue_token(node, name=f"{role}-user", roles=[role]))


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_token(client: TestClient, method: str, path: str) -> None:
    assert_problem(client.request(method, path, json={}), 401, "auth.unauthenticated")


@pytest.mark.parametrize("role", ["partner-node", "auditor", "evidence-officer"])
def test_roles_without_alerts_are_refused(client: TestClient, node: Node, role: str) -> None:
    headers = _as(node, role)
    for method, path in ROUTES:
        response = client.request(method, path, headers=headers, json={"status": "closed"})
        body = assert_problem(response, 403, "auth.forbidden")
        assert "partner-node" not in body["needed"], path


def test_poc_officer_reads_but_does_not_change(
    client: TestClient, node: Node, sample: Sample
) -> None:
    poc = _as(node, "poc-officer")
    assert client.get(ALERTS, headers=poc).status_code == 200
    assert client.get(f"{ALERTS}/{sample.ws1}", headers=poc).status_code == 200
    refused = client.post(f"{ALERTS}/{sample.ws1}/status", headers=poc, json={"status": "closed"})
    assert_problem(refused, 403, "auth.forbidden")
    refused = client.post(f"{ALERTS}/escalate", headers=poc, json={"alert_ids": [sample.ws1]})
    assert_problem(refused, 403, "auth.forbidden")
    assert client.get(f"{ALERTS}/{sample.ws1}", headers=poc).json()["alert"]["status"] == "new"


def test_list_filter_and_page(client: TestClient, node: Node, sample: Sample) -> None:
    analyst = _as(node, "analyst")
    everything = client.get(ALERTS, headers=analyst).json()
    assert [a["host"] for a in everything["alerts"]] == ["ws3", "ws2", "ws1"]
    assert everything["next"] is None
    first = client.get(ALERTS, headers=analyst, params={"limit": 2}).json()
    assert len(first["alerts"]) == 2 and first["next"]
    rest = client.get(ALERTS, headers=analyst, params={"limit": 2, "cursor": first["next"]})
    assert [a["host"] for a in rest.json()["alerts"]] == ["ws1"] and rest.json()["next"] is None

    def hosts(**params: object) -> list[str]:
        response = client.get(ALERTS, headers=analyst, params=params)
        assert response.status_code == 200, response.text
        return [a["host"] for a in response.json()["alerts"]]

    assert hosts(host="ws2") == ["ws2"]
    assert hosts(q="evil-SITE") == ["ws2", "ws1"]
    assert hosts(indicator_id=sample.indicator, severity="high") == ["ws2", "ws1"]
    assert hosts(status=["new", "closed"], kind="indicator") == ["ws3", "ws2", "ws1"]
    assert hosts(since=(T0 + timedelta(minutes=5)).isoformat()) == ["ws3", "ws2"]
    assert hosts(retro="true") == []
    assert hosts(status="escalated") == []
    bad = client.get(ALERTS, headers=analyst, params={"status": "open"})
    assert assert_problem(bad, 422, "input.invalid")["field"] == "status"
    assert_problem(client.get(ALERTS, headers=analyst, params={"limit": 5000}), 422,
                   "input.invalid")  # fmt: skip
    assert_problem(client.get(ALERTS, headers=analyst, params={"cursor": "!!"}), 422,
                   "input.invalid")  # fmt: skip
    counts = client.get(f"{ALERTS}/counts", headers=analyst).json()
    assert counts["status"]["new"] == 3 and counts["open_severity"]["high"] == 3


def test_one_alert_with_lines_and_indicator(client: TestClient, node: Node, sample: Sample) -> None:
    responder = _as(node, "responder")
    view = client.get(f"{ALERTS}/{sample.ws1}", headers=responder).json()
    assert view["alert"]["count"] == 2 and view["alert"]["host"] == "ws1"
    assert [(line["source"], line["line"]) for line in view["lines"]] == [
        ("dns.log", 9),
        ("dns.log", 10),
    ]
    assert view["lines"][0]["event"]["dns.question.name"] == "a.evil-site.org"
    assert view["indicator"]["pattern"] == "[domain-name:value = 'evil-site.org']"
    assert view["indicator"]["provenance"][0]["source"] == "feedA"
    red = client.get(f"{ALERTS}/{sample.red}", headers=responder).json()
    assert red["alert"]["tlp"] == "red" and red["indicator"]["tlp"] == "red"  # staff see RED
    missing = client.get(f"{ALERTS}/no-such-alert", headers=responder)
    assert "no-such-alert" in assert_problem(missing, 404, "not_found")["detail"]


def test_status_changes_are_audited(
    client: TestClient, node: Node, sample: Sample, admin: dict[str, str]
) -> None:
    analyst = _as(node, "analyst")
    path = f"{ALERTS}/{sample.ws2}/status"
    done = client.post(path, headers=analyst, json={"status": "acknowledged", "reason": "mine"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "acknowledged"
    closed = client.post(path, headers=analyst, json={"status": "closed"}).json()
    assert closed["status"] == "closed"
    entries = audit(client, admin, action="detect.alert.status")
    assert [(e["actor"], e["subject"], e["detail"]["to"]) for e in entries] == [
        ("user:analyst-user", sample.ws2, "acknowledged"),
        ("user:analyst-user", sample.ws2, "closed"),
    ]
    assert entries[0]["detail"]["reason"] == "mine"
    refused = client.post(path, headers=analyst, json={"status": "escalated"})
    assert "escalate" in assert_problem(refused, 422, "input.invalid")["detail"]
    assert_problem(client.post(path, headers=analyst, json={}), 422, "input.invalid")
    missing = client.post(f"{ALERTS}/gone/status", headers=analyst, json={"status": "closed"})
    assert_problem(missing, 404, "not_found")


def test_escalation_is_one_event_for_the_case_side(
    client: TestClient, node: Node, sample: Sample, admin: dict[str, str]
) -> None:
    responder = _as(node, "responder")
    response = client.post(
        f"{ALERTS}/escalate",
        headers=responder,
        json={"alert_ids": [sample.ws1, sample.red], "title": "Ministry compromise"},
    )
    assert response.status_code == 202, response.text
    done = response.json()
    assert done["title"] == "Ministry compromise"
    assert {a["status"] for a in done["alerts"]} == {"escalated"}
    events = client.get(
        "/api/v1/events", headers=admin, params={"type": "detect.alert.escalate"}
    ).json()
    assert [e["seq"] for e in events] == [done["seq"]]
    payload = events[0]["payload"]
    assert payload["requested_by"] == "user:responder-user"
    assert [a["id"] for a in payload["alerts"]] == [sample.ws1, sample.red]
    assert payload["alerts"][0]["count"] == 2
    listed = client.get(ALERTS, headers=responder, params={"status": "escalated"}).json()
    assert {a["id"] for a in listed["alerts"]} == {sample.ws1, sample.red}

    with node.database.transaction() as session:  # the response area links the case
        session.execute(update(Alert).where(Alert.id == sample.ws1).values(case_id="case-7"))
    again = client.post(f"{ALERTS}/escalate", headers=responder,
                        json={"alert_ids": [sample.ws2, sample.ws1]})  # fmt: skip
    assert "case-7" in assert_problem(again, 409, "conflict")["detail"]
    unknown = client.post(f"{ALERTS}/escalate", headers=responder,
                          json={"alert_ids": [sample.ws2, "ghost"]})  # fmt: skip
    assert_problem(unknown, 404, "not_found")
    empty = client.post(f"{ALERTS}/escalate", headers=responder, json={"alert_ids": []})
    assert_problem(empty, 422, "input.invalid")
    ws2 = client.get(f"{ALERTS}/{sample.ws2}", headers=responder).json()["alert"]
    assert ws2["status"] == "new"  # refused requests changed nothing
    assert len(client.get("/api/v1/events", headers=admin,
                          params={"type": "detect.alert.escalate"}).json()) == 1  # fmt: skip


def test_runs(client: TestClient, node: Node) -> None:
    with node.database.transaction() as session:
        session.add(
            DetectionRun(id="run-1", kind="run", actor="cli:ops", started_at=T0,
                         finished_at=T0 + timedelta(seconds=3), status="done",
                         sources=["dns.log"], counts={"lines": 10, "malformed": 1},
                         malformed=["dns.log:4: not JSON"], error=None)
        )  # fmt: skip
    runs = client.get("/api/v1/detect/runs", headers=_as(node, "analyst")).json()
    assert [(r["id"], r["counts"]["lines"], r["malformed"]) for r in runs] == [
        ("run-1", 10, ["dns.log:4: not JSON"])
    ]
