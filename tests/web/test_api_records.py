"""API records: the audit ledger, the event log and dead letters."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import assert_problem, audit, bearer
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from watchkeeper.bus import Event, emit
from watchkeeper.node import Node
from watchkeeper.security.models import AuditEntry
from watchkeeper.testing import issue_token, make_node
from watchkeeper.web.app import create_app

# --- audit ledger ---------------------------------------------------------------------------


def test_audit_verify_finds_tampering(
    client: TestClient, node: Node, admin: dict[str, str]
) -> None:
    client.post("/api/v1/users", headers=admin, json={"name": "ivy", "roles": ["analyst"]})
    client.get("/api/v1/whoami")  # a refusal, audited too
    report = client.get("/api/v1/audit/verify", headers=admin).json()
    assert report["ok"] is True
    assert report["bad_seq"] is None
    entries = audit(client, admin)
    assert report["checked"] == len(entries) >= 3
    for before, after in itertools.pairwise(entries):
        assert after["prev_hash"] == before["hash"]
        assert after["seq"] == before["seq"] + 1
    target = next(e for e in entries if e["subject"] == "user:ivy")

    with node.database.transaction() as session:
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == target["seq"])
            .values(detail={"roles": ["admin"]})
        )
    report = client.get("/api/v1/audit/verify", headers=admin).json()
    assert report["ok"] is False
    assert report["bad_seq"] == target["seq"]
    assert "altered" in report["reason"]


def test_audit_paging_and_filter(client: TestClient, admin: dict[str, str]) -> None:
    for name in ("u1", "u2", "u3"):
        client.post("/api/v1/users", headers=admin, json={"name": name, "roles": ["analyst"]})
    everything = audit(client, admin)
    page = audit(client, admin, after=everything[0]["seq"], limit=2)
    assert [e["seq"] for e in page] == [e["seq"] for e in everything[1:3]]
    assert {e["action"] for e in audit(client, admin, action="user.add")} == {"user.add"}
    assert_problem(
        client.get("/api/v1/audit", headers=admin, params={"limit": 0}), 422, "input.invalid"
    )


# --- events and dead letters ----------------------------------------------------------------


@pytest.fixture
def fragile_node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    """A node that dead-letters an event after one failed delivery."""
    the_node = make_node(tmp_path / "d", database_url=database_url, bus_max_attempts=1)
    yield the_node
    the_node.close()


def test_dead_letters_are_listed_and_replayed(fragile_node: Node) -> None:
    node = fragile_node
    broken = True
    delivered: list[str] = []

    def handler(session: Session, event: Event) -> None:
        if broken:
            raise RuntimeError(f"cannot handle {event.type}")
        delivered.append(event.id)

    node.dispatcher.subscribe("boom", handler, types=["test.*"])
    admin = bearer(issue_token(node, name="admin", roles=["admin"]))
    auditor = bearer(issue_token(node, name="aud", roles=["auditor"]))
    with TestClient(create_app(node=node)) as client:
        with node.database.transaction() as session:
            event = emit(
                session, type="test.boom", actor="test", payload={"n": 1}, clock=node.clock
            )
            event_id, event_seq = event.id, event.seq
        report = node.dispatcher.run_once()
        assert report.dead_lettered == 1

        response = client.get("/api/v1/events/dead-letters", headers=auditor)
        assert response.status_code == 200
        [letter] = response.json()
        assert letter["subscriber"] == "boom"
        assert letter["event_seq"] == event_seq
        assert letter["attempts"] == 1
        assert "cannot handle test.boom" in letter["error"]
        assert letter["replay_requested"] is False

        assert_problem(
            client.post("/api/v1/events/dead-letters/replay", json={}, headers=auditor),
            403,
            "auth.forbidden",
        )
        assert_problem(
            client.post(
                "/api/v1/events/dead-letters/replay", json={"ids": [999999]}, headers=admin
            ),
            422,
            "input.invalid",
        )

        broken = False
        response = client.post(
            "/api/v1/events/dead-letters/replay", json={"subscriber": "boom"}, headers=admin
        )
        assert response.status_code == 202, response.text
        assert response.json() == {"queued": [letter["id"]]}
        [pending] = client.get("/api/v1/events/dead-letters", headers=admin).json()
        assert pending["replay_requested"] is True
        assert delivered == []

        assert node.dispatcher.run_once().replayed == 1
        assert delivered == [event_id]
        assert client.get("/api/v1/events/dead-letters", headers=admin).json() == []
        [entry] = audit(client, admin, action="events.dlq.replay")
        assert (entry["actor"], entry["detail"]) == ("user:admin", {"ids": [letter["id"]]})
        replay_events = client.get(
            "/api/v1/events", headers=admin, params={"type": "events.dlq.*"}
        ).json()
        assert [e["type"] for e in replay_events] == ["events.dlq.replay"]


def test_events_are_listed_in_order_and_filtered(client: TestClient, admin: dict[str, str]) -> None:
    for name in ("j1", "j2"):
        client.post("/api/v1/users", headers=admin, json={"name": name, "roles": ["analyst"]})
    everything = client.get("/api/v1/events", headers=admin).json()
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(seqs)
    assert [e["type"] for e in everything] == [
        "user.add",
        "token.create",
        "user.add",
        "user.add",
    ]
    users = client.get(
        "/api/v1/events", headers=admin, params={"type": "user.*", "after": seqs[0]}
    ).json()
    assert [e["subject"] for e in users] == ["user:j1", "user:j2"]
    two = client.get(
        "/api/v1/events", headers=admin, params=[("type", "token.create"), ("type", "user.add")]
    ).json()
    assert len(two) == 4
