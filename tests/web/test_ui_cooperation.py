"""The cooperation pages: the inbox with clocks and the Acknowledge button (CSRF), the request
form whose save shows the checks with their articles, the request page with its steps and
timeline; sessions and roles."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from test_api_cooperation import incoming, prepare, preservation_body
from test_ui import csrf_of, log_in, make_user

from watchkeeper.cooperation import SCREEN_CHECKS, find_request, new_request, parse_fields
from watchkeeper.node import Node


@pytest.fixture
def officer(client: TestClient, node: Node) -> TestClient:
    prepare(node)
    make_user(node, "alice", ["poc-officer"])
    assert log_in(client, "alice").status_code == 303
    return client


def _status(node: Node, ref: str) -> tuple[str, str | None]:
    with node.database.reader() as session:
        found = find_request(session, ref)
        return found.status, found.acked_by


def test_pages_need_a_session_and_a_role(client: TestClient, node: Node) -> None:
    prepare(node)
    ref = incoming(node)
    for path in ("/ui/cooperation", "/ui/cooperation/new", f"/ui/cooperation/requests/{ref}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    response = client.post(
        f"/ui/cooperation/requests/{ref}/ack", data={"csrf": "x"}, follow_redirects=False
    )
    assert response.headers["location"] == "/ui/login"
    make_user(node, "ann", ["analyst"])
    assert log_in(client, "ann").status_code == 303
    for path in ("/ui/cooperation/new", f"/ui/cooperation/requests/{ref}"):
        assert client.get(path).status_code == 403
    area = client.get("/ui/cooperation")  # the area's description only, as for every area
    assert area.status_code == 200 and ref not in area.text and "Acknowledge" not in area.text
    assert _status(node, ref) == ("received", None)


def test_inbox_shows_the_clock_and_acknowledges_with_csrf(officer: TestClient, node: Node) -> None:
    ref = incoming(node)
    inbox = officer.get("/ui/cooperation")
    assert inbox.status_code == 200
    assert ref in inbox.text and "min left" in inbox.text and "Nobody is on duty" in inbox.text
    assert 'http-equiv="refresh"' in inbox.text
    stale = officer.post(
        f"/ui/cooperation/requests/{ref}/ack", data={"csrf": "stale"}, follow_redirects=False
    )
    assert stale.status_code == 403 and _status(node, ref) == ("received", None)
    done = officer.post(
        f"/ui/cooperation/requests/{ref}/ack",
        data={"csrf": csrf_of(inbox.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/ui/cooperation?")
    assert _status(node, ref) == ("received", "user:alice")
    after = officer.get(done.headers["location"])
    assert f"{ref} acknowledged" in after.text and "Nothing waiting." in after.text


def test_overdue_clock_is_marked(officer: TestClient, node: Node) -> None:
    incoming(node)
    node.clock.advance(timedelta(hours=3))  # type: ignore[attr-defined]
    assert "OVERDUE by" in officer.get("/ui/cooperation").text


def test_form_saves_a_draft_and_shows_its_checks(officer: TestClient, node: Node) -> None:
    form = officer.get("/ui/cooperation/new", params={"type": "preservation", "to": "FR"})
    assert form.status_code == 200
    assert 'name="content-authority"' in form.text and "42(3)(a)" in form.text
    saved = officer.post(
        "/ui/cooperation/new",
        data={
            "csrf": csrf_of(form.text),
            "type": "preservation",
            "to": "FR",
            "content-offence-facts": "Intrusion into the ministry's mail server",
            "offence_basis": "art-7",
            "category": "traffic",
            "identifiers": "ip 203.0.113.7 2026-01-03T02:14:00+00:00 UTC",
            "data_from": "2026-01-02T00:00:00+00:00",
            "data_until": "2026-01-04T00:00:00+00:00",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    page = officer.get(saved.headers["location"])
    text = html.unescape(page.text)
    assert "saved as a draft" in text and "Checks of the saved draft" in text
    assert "[Art. 42(3)(a)]" in text  # the missing authority, by article
    assert "Intrusion into the ministry's mail server" in text
    assert "ip 203.0.113.7 2026-01-03T02:14:00+00:00 UTC" in text
    ref = re.search(r"Request (OUT-\d{4}-\d{6})", text)
    assert ref is not None
    # A bad identifier line is explained, nothing is saved.
    bad = officer.post(
        "/ui/cooperation/new",
        data={"csrf": csrf_of(form.text), "type": "preservation", "to": "FR", "identifiers": "ip"},
    )
    assert bad.status_code == 422 and "identifiers line 1" in bad.text


def test_request_page_offers_the_steps_of_its_status(officer: TestClient, node: Node) -> None:
    ref = incoming(node)
    page = officer.get(f"/ui/cooperation/requests/{ref}")
    assert page.status_code == 200
    assert "Acknowledge" in page.text and "/do/decide" not in page.text
    for lang in ("en", "fr", "es", "ar"):
        assert f"document?lang={lang}" in page.text
    arabic = officer.get(f"/ui/cooperation/requests/{ref}/document", params={"lang": "ar"})
    assert 'dir="rtl"' in arabic.text
    token = csrf_of(page.text)
    officer.post(f"/ui/cooperation/requests/{ref}/ack", data={"csrf": token})
    officer.post(f"/ui/cooperation/requests/{ref}/do/check", data={"csrf": token})
    page = officer.get(f"/ui/cooperation/requests/{ref}")
    assert "/do/decide" in page.text and "bank-secrecy" not in page.text
    assert "essential-interests" in page.text  # a ground the pack allows for preservation
    refused = officer.post(
        f"/ui/cooperation/requests/{ref}/do/decide",
        data={"csrf": token, "decision": "refuse", "ground": "bank-secrecy", "reason": "x"},
    )
    assert refused.status_code == 422 and "never a ground" in refused.text
    granted = officer.post(
        f"/ui/cooperation/requests/{ref}/do/decide",
        data={"csrf": token, "decision": "grant"},
        follow_redirects=False,
    )
    assert granted.status_code == 303
    assert _status(node, ref)[0] == "ordered"
    timeline = officer.get(granted.headers["location"]).text
    assert all(step in timeline for step in ("received", "acknowledged", "checked", "ordered"))


def test_outgoing_steps_follow_status_and_the_four_eyes_rule(
    officer: TestClient, node: Node
) -> None:
    body = preservation_body()
    fields = parse_fields({k: v for k, v in body.items() if k not in ("type", "to")})
    with node.database.transaction() as session:
        draft = new_request(
            session, node=node, actor="user:alice", type="preservation", to_state="FR",
            fields=fields,
        )  # fmt: skip
        ref = draft.reference
    page = officer.get(f"/ui/cooperation/requests/{ref}")
    assert "/do/validate" in page.text and "/do/send" not in page.text
    token = csrf_of(page.text)
    for action in ("validate", "submit"):
        done = officer.post(
            f"/ui/cooperation/requests/{ref}/do/{action}",
            data={"csrf": token},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
    assert _status(node, ref)[0] == "submitted"
    page = officer.get(f"/ui/cooperation/requests/{ref}").text
    assert "/do/approve" not in page and "/do/screen" not in page  # the author, no reviewer
    forced = officer.post(f"/ui/cooperation/requests/{ref}/do/approve", data={"csrf": token})
    assert forced.status_code == 422 and "four-eyes" in forced.text
    make_user(node, "lena", ["legal-reviewer"])
    assert log_in(officer, "lena").status_code == 303
    page = officer.get(f"/ui/cooperation/requests/{ref}").text
    assert "/do/screen" in page and 'name="check-human-rights"' in page
    checks = {f"check-{name}": "on" for name in SCREEN_CHECKS}
    officer.post(
        f"/ui/cooperation/requests/{ref}/do/screen", data={"csrf": csrf_of(page), **checks}
    )
    with node.database.reader() as session:
        assert find_request(session, ref).screen["by"] == "user:lena"  # type: ignore[index]
    make_user(node, "bob", ["central-authority"])
    assert log_in(officer, "bob").status_code == 303
    page = officer.get(f"/ui/cooperation/requests/{ref}").text
    assert "/do/approve" in page
    officer.post(f"/ui/cooperation/requests/{ref}/do/approve", data={"csrf": csrf_of(page)})
    assert _status(node, ref)[0] == "approved"
    page = officer.get(f"/ui/cooperation/requests/{ref}").text  # urgent: may be made orally
    assert "/do/oral" in page and "/do/send" in page
    made = officer.post(
        f"/ui/cooperation/requests/{ref}/do/oral",
        data={"csrf": csrf_of(page), "note": "FR 24/7 desk, 09:05 UTC"},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    assert _status(node, ref)[0] == "oral"
    page = officer.get(f"/ui/cooperation/requests/{ref}").text
    assert "Written confirmation due by" in page and "written confirmation)" in page
