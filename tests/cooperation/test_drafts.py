"""A playbook's ``cooperation.request.drafted`` event becomes one draft request."""

from __future__ import annotations

from sqlalchemy import select

from cooperation.pairs import Side
from watchkeeper.bus import emit
from watchkeeper.cooperation import CoopRequest
from watchkeeper.cooperation.drafts import draft_from_event, register


def test_event_becomes_one_draft(pair: tuple[Side, Side]) -> None:
    node = pair[0].node
    register(node)
    register(node)  # once per process, however often it is called
    payload = {
        "kind": "preservation",
        "country": "YY",
        "subject": "203.0.113.9",
        "subject_kind": "ipv4",
        "provider": "YY Hosting Ltd",
        "urgency": "urgent",
        "case_id": None,
    }
    with node.database.transaction() as session:
        event = emit(session, type="cooperation.request.drafted", actor="playbook:test",
                     payload=payload, clock=node.clock)  # fmt: skip
    node.dispatcher.run_once()
    with node.database.transaction() as session:
        again = draft_from_event(session, node=node, event=event)  # a redelivery
        drafts = list(session.scalars(select(CoopRequest)))
    assert len(drafts) == 1
    assert again is not None and again.id == drafts[0].id
    draft = drafts[0]
    assert (draft.type, draft.requested_state, draft.status, draft.urgent) == (
        "preservation", "YY", "draft", True,
    )  # fmt: skip
    assert draft.contents["custodian-location"] == "YY Hosting Ltd"
    assert "203.0.113.9" in draft.contents["data-link"]


def test_event_without_state_makes_no_draft(pair: tuple[Side, Side]) -> None:
    node = pair[0].node
    with node.database.transaction() as session:
        event = emit(session, type="cooperation.request.drafted", actor="playbook:test",
                     payload={"kind": "preservation"}, clock=node.clock)  # fmt: skip
        assert draft_from_event(session, node=node, event=event) is None
        unknown = {"kind": "no-such-type", "country": "YY"}
        event = emit(session, type="cooperation.request.drafted", actor="playbook:test",
                     payload=unknown, clock=node.clock)  # fmt: skip
        assert draft_from_event(session, node=node, event=event) is None
