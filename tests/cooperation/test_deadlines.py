"""Deadlines and alarms: escalation through the roster, each alarm once, the deadlines list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cooperation.factories import make_request
from watchkeeper.bus import read_events
from watchkeeper.cooperation.deadlines import (
    alarm_key,
    deadline_rows,
    run_deadlines,
    scan_deadlines,
)
from watchkeeper.cooperation.models import CoopRequest, CoopRequestEvent
from watchkeeper.cooperation.roster import add_shift
from watchkeeper.core import FixedClock
from watchkeeper.node import Node
from watchkeeper.security import AuditEntry, add_user
from watchkeeper.testing import FIXED_START, make_node

T0 = FIXED_START
DAY = timedelta(days=1)
ACK = timedelta(minutes=60)  # the UN pack's acknowledgement service level


def _clock(node: Node) -> FixedClock:
    assert isinstance(node.clock, FixedClock)
    return node.clock


def _roster(node: Node, *people: str) -> None:
    with node.database.transaction() as session:
        for rank, person in enumerate(people, start=1):
            add_user(session, clock=node.clock, actor="test", name=person, roles=["poc-officer"])
            add_shift(
                session,
                clock=node.clock,
                actor="test",
                person=person,
                starts_at=T0 - DAY,
                ends_at=T0 + 10 * DAY,
                rank=rank,
            )


def _add(node: Node, **fields: object) -> str:
    with node.database.transaction() as session:
        return make_request(session, **fields).id


def _scan(node: Node) -> list[tuple[str, str]]:
    with node.database.transaction() as session:
        return [(alarm.kind, alarm.reference) for alarm in scan_deadlines(session, node=node)]


def _get(node: Node, request_id: str) -> CoopRequest:
    with node.database.reader() as session:
        request = session.get(CoopRequest, request_id)
        assert request is not None
        session.expunge(request)
        return request


def _kinds(node: Node) -> list[str]:
    return [kind for kind, _ in _scan(node)]


def test_unacknowledged_request_escalates_through_the_roster_and_wraps(node: Node) -> None:
    _roster(node, "ana", "ben", "cai")
    request_id = _add(
        node, direction="in", status="received", assignee="ana", ack_due_at=T0 - timedelta(1)
    )
    clock = _clock(node)
    seen = []
    for _ in range(4):
        assert _kinds(node) == ["ack-breach"]
        request = _get(node, request_id)
        seen.append(request.assignee)
        assert request.ack_due_at == clock.now() + ACK  # a full window for the next person
        assert _scan(node) == []  # within the new window: nothing more
        clock.advance(ACK)
    assert seen == ["ben", "cai", "ana", "ben"]
    request = _get(node, request_id)
    assert request.escalations == 4
    assert len(request.alarms) == 4
    with node.database.reader() as session:
        steps = session.scalars(
            select(CoopRequestEvent).where(CoopRequestEvent.request_id == request_id)
        ).all()
        assert [(s.action, s.detail["from"], s.detail["to"]) for s in steps] == [
            ("escalated", "ana", "ben"),
            ("escalated", "ben", "cai"),
            ("escalated", "cai", "ana"),
            ("escalated", "ana", "ben"),
        ]
        events = read_events(session, types=["cooperation.deadline.*"])
        assert [e.type for e in events] == ["cooperation.deadline.ack-breach"] * 4
        assert [e.payload["assignee"] for e in events] == seen
        assert events[0].subject == f"coop-request:{request_id}"
        assert events[0].payload["article"] == "41"
        assert events[0].payload["due_at"] == (T0 - timedelta(1)).isoformat()
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "cooperation.deadline.ack-breach")
        ).all()
        assert len(audited) == 4


def test_escalation_keeps_the_assignee_when_nobody_else_is_on_duty(node: Node) -> None:
    _roster(node, "ana")
    lone = _add(node, direction="in", assignee="ana", ack_due_at=T0 - ACK)
    _clock(node).advance(20 * DAY)  # after every shift
    orphan = _add(node, direction="in", assignee="ana", ack_due_at=T0)
    assert _kinds(node) == ["ack-breach", "ack-breach"]
    assert _get(node, lone).assignee == "ana"
    assert _get(node, orphan).escalations == 1


def test_unassigned_request_goes_to_the_first_on_duty(node: Node) -> None:
    _roster(node, "ana", "ben")
    request_id = _add(node, direction="in", assignee=None, ack_due_at=T0)
    assert _kinds(node) == ["ack-breach"]
    assert _get(node, request_id).assignee == "ana"


def test_acknowledged_withdrawn_or_outgoing_requests_do_not_breach(node: Node) -> None:
    _add(node, direction="in", ack_due_at=T0 - DAY, acked_at=T0 - 2 * DAY)
    _add(node, direction="in", ack_due_at=T0 - DAY, status="withdrawn")
    _add(node, direction="out", ack_due_at=T0 - DAY, status="sent")
    _add(node, direction="in", ack_due_at=T0 + timedelta(seconds=1))
    assert _scan(node) == []


def _preserved(node: Node, until_days: float, status: str = "preserved") -> str:
    return _add(
        node,
        direction="in",
        status=status,
        acked_at=T0 - 50 * DAY,
        preserved_until=T0 + until_days * DAY,
    )


def test_preservation_ending_once_and_ended_once_passed(node: Node) -> None:
    request_id = _preserved(node, 6.5)
    _preserved(node, 7.5)  # outside the 7 alarm days
    _preserved(node, 1, status="mla-received")  # held under the follow-up request
    assert _kinds(node) == ["preservation-ending"]
    assert _scan(node) == []
    _clock(node).advance(7 * DAY)
    assert sorted(_kinds(node)) == ["preservation-ended", "preservation-ending"]
    assert _scan(node) == []
    request = _get(node, request_id)
    assert request.status == "preserved"  # expiry is a person's act
    with node.database.reader() as session:
        (ended,) = read_events(session, types=["cooperation.deadline.preservation-ended"])
        assert ended.payload["article"] == "42(8)"
        assert "ended" in ended.payload["message"]
        assert ended.payload["reference"] == request.reference


def test_moved_deadline_alarms_again(node: Node) -> None:
    request_id = _preserved(node, 3)
    assert _kinds(node) == ["preservation-ending"]
    with node.database.transaction() as session:
        request = session.get(CoopRequest, request_id)
        assert request is not None
        request.preserved_until = T0 + 5 * DAY  # extended
    assert _kinds(node) == ["preservation-ending"]
    assert _get(node, request_id).alarms == [
        alarm_key("preservation-ending", T0 + 3 * DAY),
        alarm_key("preservation-ending", T0 + 5 * DAY),
    ]
    assert _scan(node) == []


def test_order_renewal_due(node: Node) -> None:
    _add(node, direction="in", status="awaiting-mla", acked_at=T0, order_expires_at=T0 + 2 * DAY)
    _add(node, direction="in", status="released", acked_at=T0, order_expires_at=T0 + 2 * DAY)
    _add(node, direction="in", status="ordered", acked_at=T0, order_expires_at=T0 + 30 * DAY)
    alarms = _scan(node)
    assert [kind for kind, _ in alarms] == ["order-renewal-due"]
    with node.database.reader() as session:
        (event,) = read_events(session, types=["cooperation.deadline.order-renewal-due"])
        assert event.payload["article"] == "25(2)"


@pytest.mark.parametrize(
    ("child_status", "alarmed"),
    [(None, True), ("draft", True), ("withdrawn", True), ("sent", False), ("answered", False)],
)
def test_mla_follow_up_due_until_the_follow_up_is_sent(
    node: Node, child_status: str | None, alarmed: bool
) -> None:
    parent = _add(node, status="preserved", sent_at=T0 - 55 * DAY, follow_up_due_at=T0 + 5 * DAY)
    if child_status is not None:
        _add(node, type="mla", status=child_status, parent_id=parent)
    assert _kinds(node) == (["mla-follow-up-due"] if alarmed else [])


def test_mla_follow_up_only_for_outgoing_preservation_in_waiting_states(node: Node) -> None:
    _add(node, status="answered", follow_up_due_at=T0 + DAY)
    _add(node, type="mla", status="sent", follow_up_due_at=T0 + DAY)
    _add(node, status="acknowledged", follow_up_due_at=T0 + 10 * DAY)
    assert _scan(node) == []


def test_unanswered_after_the_configured_days(node: Node) -> None:
    late = _add(node, type="mla", status="acknowledged", sent_at=T0 - 30 * DAY)
    _add(node, type="mla", status="sent", sent_at=T0 - 29 * DAY)
    _add(node, type="mla", status="answered", sent_at=T0 - 90 * DAY)
    alarms = _scan(node)
    assert alarms == [("unanswered", _get(node, late).reference)]
    with node.database.reader() as session:
        (event,) = read_events(session, types=["cooperation.deadline.unanswered"])
        assert "30 days" in event.payload["message"]
        assert event.payload["article"] is None


@pytest.fixture
def eager(tmp_path: Path) -> Iterator[Node]:
    """A node that warns 2 days ahead and calls a request unanswered after 10 days."""
    the_node = make_node(
        tmp_path / "eager", cooperation_alarm_days=2, cooperation_unanswered_days=10
    )
    yield the_node
    the_node.close()


def test_alarm_and_unanswered_days_are_settings(eager: Node) -> None:
    _preserved(eager, 3)
    _preserved(eager, 1.5)
    _add(eager, type="mla", status="sent", sent_at=T0 - 11 * DAY)
    assert sorted(_kinds(eager)) == ["preservation-ending", "unanswered"]


def test_run_deadlines_commits(node: Node) -> None:
    request_id = _preserved(node, 1)
    assert [alarm.kind for alarm in run_deadlines(node)] == ["preservation-ending"]
    assert _get(node, request_id).alarms == [alarm_key("preservation-ending", T0 + DAY)]
    assert run_deadlines(node) == []


def test_deadline_rows_sorted_by_due_time_with_overdue(node: Node) -> None:
    _roster(node, "ana")
    ack = _add(node, direction="in", assignee="ana", ack_due_at=T0 + timedelta(minutes=30))
    late = _preserved(node, -1)
    follow = _add(node, status="sent", follow_up_due_at=T0 + 20 * DAY)
    order = _add(
        node, direction="in", status="preserved", acked_at=T0, order_expires_at=T0 + 3 * DAY
    )
    answer = _add(node, type="mla", status="sent", sent_at=T0 - 25 * DAY)
    _preserved(node, 40)  # beyond the horizon
    _add(node, direction="in", acked_at=T0, ack_due_at=T0)  # acknowledged: no deadline
    with node.database.reader() as session:
        rows = deadline_rows(session, now=T0, horizon_days=30)
    assert [(row["id"], row["kind"], row["overdue"]) for row in rows] == [
        (late, "preservation", True),
        (ack, "ack", False),
        (order, "order", False),
        (answer, "answer", False),
        (follow, "mla-follow-up", False),
    ]
    assert rows[1]["assignee"] == "ana"
    assert rows[3]["due_at"] == T0 + 5 * DAY
    assert set(rows[0]) == {
        "id", "reference", "type", "direction", "status", "kind", "due_at", "overdue", "assignee"
    }  # fmt: skip
    with node.database.reader() as session:
        assert [row["kind"] for row in deadline_rows(session, now=T0, horizon_days=1)] == [
            "preservation",
            "ack",
        ]
