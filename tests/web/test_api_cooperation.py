"""The cooperation API: tokens and roles, an outgoing request from draft to sent under the
four-eyes rule, an incoming one through the inbox to a refusal on an invalid ground, the
printable document, and the registry, roster and instrument routes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from api_helpers import assert_problem, bearer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from watchkeeper.cooperation import pdf_available, set_state
from watchkeeper.cooperation.incoming import receive_request
from watchkeeper.node import Node
from watchkeeper.security import add_peer
from watchkeeper.security.keys import public_key_text
from watchkeeper.testing import issue_token

API = "/api/v1/cooperation"
UN = "un-cybercrime"
PEER = "FR-NCSA"


def prepare(node: Node) -> None:
    """Our node in QA, France as a party with a partner node, the convention in force."""
    node.init_identity(actor="test", code="QA-NCSA", name="Test agency", country="QA")
    folder = node.data_dir / "instruments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{UN}.yaml").write_text(f"id: {UN}\nentry_into_force:\n  date: 2026-01-01\n")
    with node.database.transaction() as session:
        for code in ("QA", "FR"):
            set_state(
                session, clock=node.clock, actor="test", code=code, name=f"State {code}",
                languages=["en", "fr"], instrument=UN, deposited=date(2025, 3, 1),
            )  # fmt: skip
        add_peer(
            session,
            clock=node.clock,
            actor="test",
            code=PEER,
            url="http://127.0.0.1:9/",  # nothing listens: delivery fails at once, stays queued
            country="FR",
            public_key=public_key_text(Ed25519PrivateKey.generate()),
        )


@pytest.fixture
def staff(node: Node) -> dict[str, dict[str, str]]:
    prepare(node)
    people = {
        "alice": ["poc-officer"],
        "bob": ["central-authority"],
        "lena": ["legal-reviewer"],
        "ann": ["analyst"],
        "aud": ["auditor"],
    }
    return {
        name: bearer(issue_token(node, name=name, roles=roles)) for name, roles in people.items()
    }


def preservation_body() -> dict[str, Any]:
    contents = {
        "authority": "Public Prosecutor, Doha",
        "offence-facts": "Intrusion into the ministry's mail server on 3 January",
        "data-link": "Logs of the VPS that relayed the intrusion",
        "custodian-location": "OVH, Roubaix",
        "necessity": "Logs are rotated after 14 days",
        "mla-follow-up": "A request for disclosure will follow",
        "confidentiality": "Do not notify the subscriber",
    }
    return {
        "type": "preservation",
        "to": "FR",
        "contents": contents,
        "offence": {"basis": "art-7", "max_penalty_years": 5, "summary": "illegal access"},
        "data": [
            {
                "category": "traffic",
                "identifiers": [
                    {
                        "kind": "ip",
                        "value": "203.0.113.7",
                        "timestamp": "2026-01-03T02:14:00+00:00",
                        "timezone": "UTC",
                    }
                ],
                "time_range": {
                    "from": "2026-01-02T00:00:00+00:00",
                    "until": "2026-01-04T00:00:00+00:00",
                },
            }
        ],
    }


def incoming(node: Node, **body: Any) -> str:
    """An incoming request from the partner, registered as its message would be."""
    values = {"type": "preservation", "instrument": UN, "requesting_state": "FR", **body}
    with node.database.transaction() as session:
        done = receive_request(
            session,
            node=node,
            envelope={"from": PEER, "thread": f"t-{len(str(body))}", "id": "m1", "body": values},
        )
    return str(done["reference"])


def test_routes_need_a_token_and_a_cooperation_role(
    client: TestClient, node: Node, staff: dict[str, dict[str, str]]
) -> None:
    for method, path in (
        ("GET", "/requests"),
        ("POST", "/requests"),
        ("GET", "/inbox"),
        ("GET", "/instruments"),
    ):
        response = client.request(method, API + path, json={})
        assert_problem(response, 401, "auth.unauthenticated")
        response = client.request(method, API + path, json={}, headers=staff["ann"])
        assert_problem(response, 403, "auth.forbidden")
    partner = bearer(issue_token(node, name="peer:fr", roles=["partner-node"]))
    assert client.get(f"{API}/inbox", headers=partner).status_code == 403
    # Auditors read but never draft.
    assert client.get(f"{API}/requests", headers=staff["aud"]).status_code == 200
    response = client.post(f"{API}/requests", json=preservation_body(), headers=staff["aud"])
    assert_problem(response, 403, "auth.forbidden")
    # A legal reviewer takes part, but does not draft.
    response = client.post(f"{API}/requests", json=preservation_body(), headers=staff["lena"])
    assert_problem(response, 403, "auth.forbidden")


def test_outgoing_request_from_draft_to_sent_with_four_eyes(
    client: TestClient, node: Node, staff: dict[str, dict[str, str]]
) -> None:
    alice, bob, lena = staff["alice"], staff["bob"], staff["lena"]
    body = preservation_body()
    missing = body["contents"].pop("authority")
    created = client.post(f"{API}/requests", json=body, headers=alice)
    assert created.status_code == 201, created.text
    ref = created.json()["reference"]
    assert created.json()["status"] == "draft" and created.json()["peer"] == PEER

    check = client.get(f"{API}/requests/{ref}/check", headers=alice).json()
    assert not check["ok"]
    first = check["problems"][0]
    assert (first["field"], first["article"]) == ("contents.authority", "42(3)(a)")
    response = client.post(f"{API}/requests/{ref}/submit", headers=alice)
    body_ = assert_problem(response, 422, "input.invalid")
    assert body_["article"] == "42(3)(a)"

    patched = client.patch(
        f"{API}/requests/{ref}", json={"contents": {"authority": missing}}, headers=alice
    )
    assert patched.status_code == 200, patched.text
    check = client.get(f"{API}/requests/{ref}/check", headers=alice).json()
    assert {p["stage"] for p in check["problems"] if p["severity"] == "error"} == {"approve"}
    validated = client.post(f"{API}/requests/{ref}/validate", headers=alice).json()
    assert validated["status"] == "validated"
    assert [p["code"] for p in validated["problems"]] == ["screen", "approval"]
    assert client.post(f"{API}/requests/{ref}/submit", headers=alice).json()["status"] == (
        "submitted"
    )
    # Only a legal reviewer screens, and answers every check.
    assert_problem(
        client.post(f"{API}/requests/{ref}/screen", json={"checks": {}}, headers=alice),
        403,
        "auth.forbidden",
    )
    response = client.post(
        f"{API}/requests/{ref}/screen", json={"checks": {"legal-basis": True}}, headers=lena
    )
    assert "proportionality" in assert_problem(response, 422, "input.invalid")["detail"]
    instruments = client.get(f"{API}/instruments", headers=lena).json()
    checks = dict.fromkeys(instruments["screen_checks"], True)
    screened = client.post(f"{API}/requests/{ref}/screen", json={"checks": checks}, headers=lena)
    assert screened.json()["screen"]["by"] == "user:lena", screened.text
    # The author never approves; a second person does.
    response = client.post(f"{API}/requests/{ref}/approve", headers=alice)
    assert assert_problem(response, 422, "input.invalid")["reason"] == "four-eyes"
    approved = client.post(f"{API}/requests/{ref}/approve", headers=bob)
    assert approved.json()["status"] == "approved" and approved.json()["approver"] == "user:bob"
    sent = client.post(f"{API}/requests/{ref}/send", headers=bob)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "sent"
    # The partner is offline: the message waits in the outbox, nothing lost.
    outbox = client.get(f"{API}/outbox", headers=staff["aud"]).json()
    assert outbox["pending"] == 1 and outbox["peers"][PEER]["pending"] == 1
    shown = client.get(f"{API}/requests/{ref}", headers=staff["aud"]).json()
    actions = [step["action"] for step in shown["timeline"]]
    assert actions[0] == "created" and actions[-1] == "sent" and "screened" in actions
    listed = client.get(
        f"{API}/requests", params={"direction": "out", "status": "sent"}, headers=alice
    ).json()
    assert [row["reference"] for row in listed["requests"]] == [ref]


def test_incoming_request_in_the_inbox_then_an_invalid_refusal(
    client: TestClient, node: Node, staff: dict[str, dict[str, str]]
) -> None:
    alice = staff["alice"]
    ref = incoming(node)
    inbox = client.get(f"{API}/inbox", headers=alice).json()
    assert inbox["waiting"] == 1
    row = inbox["requests"][0]
    assert row["reference"] == ref and row["clock"]["state"] == "running"
    assert row["clock"]["seconds_left"] > 0
    acked = client.post(f"{API}/requests/{ref}/ack", headers=alice)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acked_by"] == "user:alice"
    again = client.post(f"{API}/requests/{ref}/ack", headers=alice)
    assert_problem(again, 409, "conflict")
    inbox = client.get(f"{API}/inbox", headers=alice).json()
    assert (inbox["waiting"], inbox["in_hand"]) == (0, 1)
    assert client.post(f"{API}/requests/{ref}/check", headers=alice).json()["status"] == ("checked")
    response = client.post(
        f"{API}/requests/{ref}/decide",
        json={"decision": "refuse", "ground": "bank-secrecy", "reason": "bank records"},
        headers=alice,
    )
    problem = assert_problem(response, 422, "input.invalid")
    assert problem["article"] and problem["article"] in problem["detail"]
    assert "never a ground" in problem["detail"]
    shown = client.get(f"{API}/requests/{ref}", headers=alice).json()
    assert shown["status"] == "checked" and shown["decision"] is None
    granted = client.post(f"{API}/requests/{ref}/decide", json={"decision": "grant"}, headers=alice)
    assert granted.json()["status"] == "ordered", granted.text
    preserved = client.post(f"{API}/requests/{ref}/preserve", json={"days": 90}, headers=alice)
    assert preserved.json()["status"] == "preserved", preserved.text
    deadlines = client.get(f"{API}/deadlines", params={"days": 120}, headers=alice).json()
    assert ("preservation", ref) in {(d["kind"], d["reference"]) for d in deadlines["deadlines"]}


def test_inbox_clock_runs_out(
    client: TestClient, node: Node, staff: dict[str, dict[str, str]]
) -> None:
    ref = incoming(node, urgent=True)
    node.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    row = client.get(f"{API}/inbox", headers=staff["bob"]).json()["requests"][0]
    assert row["reference"] == ref and row["clock"]["state"] == "overdue"
    assert row["clock"]["seconds_left"] < 0


def test_printable_document_in_four_languages(
    client: TestClient, node: Node, staff: dict[str, dict[str, str]]
) -> None:
    ref = client.post(f"{API}/requests", json=preservation_body(), headers=staff["alice"]).json()[
        "reference"
    ]
    arabic = client.get(
        f"{API}/requests/{ref}/document", params={"lang": "ar"}, headers=staff["aud"]
    )
    assert arabic.status_code == 200
    assert arabic.headers["content-type"].startswith("text/html")
    assert 'dir="rtl"' in arabic.text and "42(3)(a)" in arabic.text
    english = client.get(f"{API}/requests/{ref}/document", headers=staff["aud"])
    assert 'dir="rtl"' not in english.text and "Public Prosecutor, Doha" in english.text
    bad = client.get(f"{API}/requests/{ref}/document", params={"lang": "de"}, headers=staff["aud"])
    assert_problem(bad, 422, "input.invalid")
    pdf = client.get(
        f"{API}/requests/{ref}/document", params={"format": "pdf"}, headers=staff["aud"]
    )
    if pdf_available():
        assert pdf.headers["content-type"] == "application/pdf"
    else:
        assert "WeasyPrint" in assert_problem(pdf, 422, "input.invalid")["detail"]


def test_registry_parties_roster_and_instruments(
    client: TestClient, node: Node, staff: dict[str, dict[str, str]]
) -> None:
    alice, bob, aud = staff["alice"], staff["bob"], staff["aud"]
    found = client.get(f"{API}/parties", params={"b": "FR"}, headers=aud).json()
    assert found["applies"] is True and found["states"] == ["QA", "FR"] and found["reasons"]
    before = client.get(f"{API}/parties", params={"b": "FR", "on": "2025-06-01"}, headers=aud)
    assert before.json()["applies"] is False
    assert_problem(
        client.put(f"{API}/states/DE", json={"name": "Germany"}, headers=alice),
        403,
        "auth.forbidden",
    )
    put = client.put(f"{API}/states/DE", json={"name": "Germany", "languages": ["de"]}, headers=bob)
    assert put.status_code == 200, put.text
    assert client.get(f"{API}/states/DE", headers=aud).json()["languages"] == ["de"]
    assert "DE" in {state["code"] for state in client.get(f"{API}/states", headers=aud).json()}
    missing = client.get(f"{API}/states/XX", headers=aud)
    assert missing.status_code == 404 and "XX is not in the registry" in missing.json()["detail"]
    packs = client.get(f"{API}/instruments", headers=aud).json()["instruments"]
    assert packs[UN]["entry_into_force"]["date"] == "2026-01-01"
    assert "preservation" in packs[UN]["request_types"] and "budapest" in packs

    now = node.clock.now()
    shift = {
        "person": "alice",
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=8)).isoformat(),
        "contact": "+974 555 0100",
    }
    assert_problem(client.post(f"{API}/roster", json=shift, headers=aud), 403, "auth.forbidden")
    added = client.post(f"{API}/roster", json=shift, headers=bob)
    assert added.status_code == 201, added.text
    roster = client.get(f"{API}/roster", headers=aud).json()
    assert [s["person"] for s in roster["on_duty"]] == ["alice"]
    response = client.post(f"{API}/roster", json={**shift, "person": "ann"}, headers=bob)
    assert "duty roles" in assert_problem(response, 422, "input.invalid")["detail"]
    assert client.delete(f"{API}/roster/{added.json()['id']}", headers=bob).status_code == 204
    assert client.get(f"{API}/roster", headers=aud).json()["on_duty"] == []
    assert_problem(client.delete(f"{API}/roster/999", headers=bob), 404, "not_found")
