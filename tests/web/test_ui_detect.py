"""The Detection pages: the alert queue, one alert, its status buttons and "Open a case",
detection runs; sessions, roles and CSRF."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from detect_samples import T0, Sample, seed_alerts
from fastapi.testclient import TestClient
from test_ui import csrf_of, ledger, log_in, make_user

from watchkeeper.bus import read_events
from watchkeeper.detect.models import Alert, DetectionRun
from watchkeeper.node import Node


@pytest.fixture
def sample(node: Node, tmp_path: Path) -> Sample:
    return seed_alerts(node, tmp_path)


def _login(client: TestClient, node: Node, role: str) -> TestClient:
    make_user(node, f"{role}-user", [role])
    assert log_in(client, f"{role}-user").status_code == 303
    return client


def _status(node: Node, alert_id: str) -> str:
    with node.database.reader() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert.status


def _escalations(node: Node) -> int:
    with node.database.reader() as session:
        return len(read_events(session, types=["detect.alert.escalate"]))


def test_pages_and_forms_need_a_session(client: TestClient, node: Node, sample: Sample) -> None:
    for path in ("/ui/detect", f"/ui/detect/alerts/{sample.ws1}", "/ui/detect/runs"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    for path, data in [
        (f"/ui/detect/alerts/{sample.ws1}/status", {"csrf": "x", "status": "closed"}),
        ("/ui/detect/escalate", {"csrf": "x", "alert_ids": sample.ws1}),
    ]:
        response = client.post(path, data=data, follow_redirects=False)
        assert response.headers["location"] == "/ui/login"
    assert _status(node, sample.ws1) == "new" and _escalations(node) == 0


@pytest.mark.parametrize("role", ["auditor", "evidence-officer", "partner-node"])
def test_other_roles_are_refused(client: TestClient, node: Node, sample: Sample, role: str) -> None:
    _login(client, node, role)
    for path in ("/ui/detect", f"/ui/detect/alerts/{sample.ws1}", "/ui/detect/runs"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "<h1>Forbidden</h1>" in response.text
    csrf = csrf_of(client.get("/ui/account").text)
    response = client.post("/ui/detect/escalate", data={"csrf": csrf, "alert_ids": sample.ws1})
    assert response.status_code == 403 and _escalations(node) == 0


def test_queue_lists_filters_and_counts(client: TestClient, node: Node, sample: Sample) -> None:
    _login(client, node, "analyst")
    page = client.get("/ui/detect")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Detection</h1>" in text
    for alert_id in (sample.ws1, sample.ws2, sample.red):
        assert f'href="/ui/detect/alerts/{alert_id}"' in text
    assert '<span class="badge sev-high">high</span>' in text
    assert "Indicator hit: C2 &lt;domain&gt;" in text and "<domain>" not in text
    assert "TLP:RED" in text
    assert '<option value="open" selected>' in text
    # counts: three new alerts, three open high ones
    assert '<a href="/ui/detect?status=new">3</a>' in text
    assert '<a href="/ui/detect?status=open&amp;severity=high">3</a>' in text
    filtered = client.get("/ui/detect", params={"host": "ws2"}).text
    assert f"/ui/detect/alerts/{sample.ws2}" in filtered
    assert f"/ui/detect/alerts/{sample.ws1}" not in filtered
    by_text = client.get("/ui/detect", params={"q": "45.77.10"}).text
    assert f"/ui/detect/alerts/{sample.red}" in by_text
    assert f"/ui/detect/alerts/{sample.ws2}" not in by_text
    closed = client.get("/ui/detect", params={"status": "closed"}).text
    assert "No alert matches these filters." in closed
    bad = client.get("/ui/detect", params={"kind": "yara"})
    assert bad.status_code == 200 and "unknown kind yara" in bad.text


def test_alert_page_shows_lines_and_the_indicator(
    client: TestClient, node: Node, sample: Sample
) -> None:
    _login(client, node, "responder")
    page = client.get(f"/ui/detect/alerts/{sample.ws1}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "<code>dns.log:9</code>" in text and "<code>dns.log:10</code>" in text
    assert "<dt>dns.question.name</dt><dd><mark>a.evil-site.org</mark></dd>" in text
    assert "<code>[domain-name:value = 'evil-site.org']</code>" in text
    assert f'href="/ui/intel/object/{sample.indicator}"' in text
    assert "<td>feedA</td>" in text
    assert 'value="acknowledged">Acknowledge</button>' in text
    assert ">Open a case</button>" in text
    missing = client.get("/ui/detect/alerts/nope")
    assert missing.status_code == 404 and "nope" in missing.text


def test_status_buttons_change_and_audit(client: TestClient, node: Node, sample: Sample) -> None:
    _login(client, node, "analyst")
    csrf = csrf_of(client.get(f"/ui/detect/alerts/{sample.ws2}").text)
    path = f"/ui/detect/alerts/{sample.ws2}/status"
    stale = client.post(path, data={"csrf": "stale", "status": "closed"})
    assert stale.status_code == 403 and "CSRF" in stale.text
    assert _status(node, sample.ws2) == "new"
    done = client.post(path, data={"csrf": csrf, "status": "closed", "reason": "test lab"},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"/ui/detect/alerts/{sample.ws2}?message=")
    assert "status set to closed" in client.get(done.headers["location"]).text
    assert _status(node, sample.ws2) == "closed"
    [entry] = ledger(node, "detect.alert.status")
    assert entry["actor"] == "user:analyst-user" and entry["detail"]["reason"] == "test lab"
    wrong = client.post(path, data={"csrf": csrf, "status": "escalated"})
    assert wrong.status_code == 422 and "use escalate" in wrong.text


def test_open_a_case_from_the_alert_and_from_the_queue(
    client: TestClient, node: Node, sample: Sample
) -> None:
    _login(client, node, "responder")
    csrf = csrf_of(client.get(f"/ui/detect/alerts/{sample.red}").text)
    stale = client.post("/ui/detect/escalate", data={"csrf": "", "alert_ids": sample.red})
    assert stale.status_code == 403 and _escalations(node) == 0
    form = {"csrf": csrf, "alert_ids": sample.red, "title": ""}
    one = client.post("/ui/detect/escalate", data=form, follow_redirects=False)
    assert one.status_code == 303
    location = one.headers["location"]
    assert location.startswith(f"/ui/detect/alerts/{sample.red}?message=")
    assert "case requested for 1 alert(s): Indicator hit: Tasking server on ws3" in unquote_plus(
        location
    )
    after = client.get(location).text
    assert "case requested, not yet opened" in after and ">Ask again for a case</button>" in after
    assert _status(node, sample.red) == "escalated" and _escalations(node) == 1

    # the queue: tick two alerts and name the case
    queue = client.get("/ui/detect").text
    # the open queue no longer lists the escalated alert
    assert len(re.findall(r'name="alert_ids"', queue)) == 2 and sample.red not in queue
    both = client.post("/ui/detect/escalate", follow_redirects=False,
                       data={"csrf": csrf, "alert_ids": [sample.ws1, sample.ws2],
                             "title": "Ministry C2"})  # fmt: skip
    assert both.status_code == 303 and both.headers["location"].startswith("/ui/detect?message=")
    assert "Ministry C2" in client.get(both.headers["location"]).text
    with node.database.reader() as session:
        events = read_events(session, types=["detect.alert.escalate"])
    assert [len(e.payload["alerts"]) for e in events] == [1, 2]
    assert events[1].payload["title"] == "Ministry C2"
    none = client.post("/ui/detect/escalate", data={"csrf": csrf})
    assert none.status_code == 422 and _escalations(node) == 2


def test_poc_officer_reads_without_buttons(client: TestClient, node: Node, sample: Sample) -> None:
    _login(client, node, "poc-officer")
    page = client.get(f"/ui/detect/alerts/{sample.ws1}").text
    assert "Open a case" not in page and "Acknowledge" not in page
    assert 'name="alert_ids"' not in client.get("/ui/detect").text
    csrf = csrf_of(page)
    refused = client.post(f"/ui/detect/alerts/{sample.ws1}/status",
                          data={"csrf": csrf, "status": "closed"})  # fmt: skip
    assert refused.status_code == 403 and _status(node, sample.ws1) == "new"


def test_runs_page_and_area(client: TestClient, node: Node) -> None:
    with node.database.transaction() as session:
        session.add(
            DetectionRun(id="run-1", kind="hunt", actor="cli:ops", started_at=T0,
                         finished_at=T0 + timedelta(seconds=3), status="done",
                         sources=["zeek/dns.log"], counts={"lines": 10},
                         malformed=["zeek/dns.log:4: not a Zeek record"], error=None)
        )  # fmt: skip
    _login(client, node, "analyst")
    runs = client.get("/ui/detect/runs").text
    assert "<code>zeek/dns.log:4: not a Zeek record</code>" in runs and "lines: 10" in runs
    queue = client.get("/ui/detect").text
    assert 'href="/ui/detect" aria-current="page"' in queue
    assert 'href="/ui/detect/runs"' in queue


def test_pages_are_accessible(client: TestClient, node: Node, sample: Sample) -> None:
    _login(client, node, "admin")
    for path in ("/ui/detect", f"/ui/detect/alerts/{sample.ws1}", "/ui/detect/runs"):
        page = client.get(path).text
        assert page.count("<h1>") == 1, path
        for field_id in re.findall(r'<(?:input|select) id="([^"]+)"', page):
            assert f'<label for="{field_id}">' in page, (path, field_id)
        for checkbox in re.findall(r'<input type="checkbox"[^>]*>', page):
            assert "aria-label=" in checkbox
