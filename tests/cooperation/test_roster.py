"""The 24/7 duty roster: who may be rostered, who is on duty, and who is called next."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from watchkeeper.cooperation.roster import (
    add_shift,
    list_shifts,
    next_on_duty,
    on_duty,
    remove_shift,
    shift_document,
)
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.node import Node
from watchkeeper.security import AuditEntry, add_user, get_user
from watchkeeper.testing import FIXED_START

T0 = FIXED_START
HOUR = timedelta(hours=1)


@pytest.fixture
def staffed(node: Node) -> Node:
    """Three duty officers, a central authority, an analyst and a disabled officer."""
    with node.database.transaction() as session:
        for name, roles in (
            ("ana", ["poc-officer"]),
            ("ben", ["poc-officer"]),
            ("cai", ["central-authority"]),
            ("dev", ["analyst"]),
            ("eve", ["poc-officer"]),
        ):
            add_user(session, clock=node.clock, actor="test", name=name, roles=roles)
        get_user(session, "eve").disabled = True
    return node


def _shift(node: Node, person: str, *, rank: int = 1, start: int = -1, end: int = 8) -> int:
    with node.database.transaction() as session:
        shift = add_shift(
            session,
            clock=node.clock,
            actor="cli:op",
            person=person,
            starts_at=T0 + start * HOUR,
            ends_at=T0 + end * HOUR,
            rank=rank,
            contact=f"+33 1 00 00 00 0{rank}",
        )
        return shift.id


def test_on_duty_orders_by_rank_then_start(staffed: Node) -> None:
    _shift(staffed, "cai", rank=2, start=-3)
    _shift(staffed, "ben", rank=1, start=-1)
    _shift(staffed, "ana", rank=1, start=-2)
    _shift(staffed, "ana", rank=1, start=2, end=9)  # not yet started
    with staffed.database.reader() as session:
        assert [s.person for s in on_duty(session, at=T0)] == ["ana", "ben", "cai"]
        later = [s.person for s in on_duty(session, at=T0 + 3 * HOUR)]
        assert later == ["ana", "ben", "ana", "cai"]


def test_shift_end_is_exclusive(staffed: Node) -> None:
    _shift(staffed, "ana", start=-1, end=1)
    with staffed.database.reader() as session:
        assert [s.person for s in on_duty(session, at=T0 + HOUR - timedelta(seconds=1))] == ["ana"]
        assert on_duty(session, at=T0 + HOUR) == []
        assert [s.person for s in on_duty(session, at=T0 - HOUR)] == ["ana"]


def test_next_on_duty_walks_the_order_and_ends_with_none(staffed: Node) -> None:
    _shift(staffed, "ana", rank=1)
    _shift(staffed, "ben", rank=2)
    _shift(staffed, "cai", rank=3)
    _shift(staffed, "ana", rank=4, start=-2)  # a second shift does not call ana twice
    with staffed.database.reader() as session:
        assert next_on_duty(session, at=T0, after=None) == "ana"
        assert next_on_duty(session, at=T0, after="ana") == "ben"
        assert next_on_duty(session, at=T0, after="ben") == "cai"
        assert next_on_duty(session, at=T0, after="cai") is None
        # someone no longer on duty hands over to the first
        assert next_on_duty(session, at=T0, after="zed") == "ana"
        assert next_on_duty(session, at=T0 + 10 * HOUR, after=None) is None


def test_add_shift_is_audited_and_documented(staffed: Node) -> None:
    shift_id = _shift(staffed, "cai", rank=2)
    with staffed.database.reader() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "cooperation.roster.set")
        ).one()
        assert entry.subject == f"roster-shift:{shift_id}"
        assert entry.detail["person"] == "cai"
        assert entry.actor == "cli:op"
        shift = on_duty(session, at=T0)[0]
        document = shift_document(shift)
        assert document["id"] == shift_id
        assert document["rank"] == 2
        assert document["starts_at"] == T0 - HOUR
        assert document["contact"] == "+33 1 00 00 00 02"


@pytest.mark.parametrize(
    ("person", "needle"),
    [("nobody", "no user named 'nobody'"), ("dev", "none of the duty roles"), ("eve", "disabled")],
)
def test_only_enabled_duty_staff_can_be_rostered(staffed: Node, person: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle) as raised:
        _shift(staffed, person)
    assert raised.value.fields["field"] == "person"


def test_shift_must_end_after_it_starts(staffed: Node) -> None:
    with pytest.raises(InvalidInput, match="end after it starts") as raised:
        _shift(staffed, "ana", start=2, end=2)
    assert raised.value.fields["field"] == "until"
    with pytest.raises(InvalidInput, match="rank"):
        _shift(staffed, "ana", rank=0)


def test_admin_may_be_rostered(node: Node) -> None:
    with node.database.transaction() as session:
        add_user(session, clock=node.clock, actor="test", name="root", roles=["admin"])
    _shift(node, "root")
    with node.database.reader() as session:
        assert next_on_duty(session, at=T0, after=None) == "root"


def test_remove_shift_and_list(staffed: Node) -> None:
    old = _shift(staffed, "ana", start=-10, end=-5)
    current = _shift(staffed, "ben")
    with staffed.database.reader() as session:
        assert [row["id"] for row in list_shifts(session)] == [old, current]
        assert [row["id"] for row in list_shifts(session, since=T0)] == [current]
    with staffed.database.transaction() as session:
        remove_shift(session, clock=staffed.clock, actor="cli:op", shift_id=current)
    with staffed.database.reader() as session:
        assert on_duty(session, at=T0) == []
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject == f"roster-shift:{current}")
        ).all()
        assert actions == ["cooperation.roster.set", "cooperation.roster.remove"]
    with staffed.database.transaction() as session, pytest.raises(NotFound, match="no roster"):
        remove_shift(session, clock=staffed.clock, actor="cli:op", shift_id=current)
