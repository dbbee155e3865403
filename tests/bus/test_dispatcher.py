"""Delivery to subscribers: durable cursors, at least once, retries with backoff, dead letters."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from watchkeeper.bus import (
    DeadLetter,
    Dispatcher,
    Event,
    SubscriberCursor,
    emit,
    event_counts,
    list_dead_letters,
    request_replay,
)
from watchkeeper.core import FixedClock
from watchkeeper.errors import Conflict, InvalidInput
from watchkeeper.node import Node
from watchkeeper.testing import make_node


def _emit(node: Node, *types: str) -> None:
    with node.database.transaction() as session:
        for kind in types:
            emit(session, type=kind, actor="test", clock=node.clock)


def _dispatcher(node: Node, **options: float) -> Dispatcher:
    return Dispatcher(node.database, clock=node.clock, **options)  # type: ignore[arg-type]


def test_delivers_each_event_once_in_order(node: Node) -> None:
    seen: list[str] = []
    dispatcher = _dispatcher(node)
    dispatcher.subscribe("recorder", lambda _s, e: seen.append(e.type))
    _emit(node, "a.one", "a.two")
    assert dispatcher.run_once().delivered == 2
    _emit(node, "a.three")
    dispatcher.run_once()
    dispatcher.run_once()
    assert seen == ["a.one", "a.two", "a.three"]


def test_cursor_survives_a_restart(node: Node) -> None:
    first: list[int] = []
    dispatcher = _dispatcher(node)
    dispatcher.subscribe("durable", lambda _s, e: first.append(e.seq))
    _emit(node, "x.a", "x.b")
    dispatcher.run_once()
    _emit(node, "x.c")
    second: list[str] = []
    restarted = _dispatcher(node)  # as after a process restart
    restarted.subscribe("durable", lambda _s, e: second.append(e.type))
    restarted.run_once()
    assert len(first) == 2
    assert second == ["x.c"]


def test_type_filter(node: Node) -> None:
    seen: list[str] = []
    dispatcher = _dispatcher(node)
    dispatcher.subscribe("peers-only", lambda _s, e: seen.append(e.type), types=["peer.*"])
    _emit(node, "user.add", "peer.add", "token.create", "peer.remove")
    dispatcher.run_once()
    assert seen == ["peer.add", "peer.remove"]


def test_duplicate_subscriber_name_is_refused(node: Node) -> None:
    dispatcher = _dispatcher(node)
    dispatcher.subscribe("one", lambda _s, _e: None)
    with pytest.raises(Conflict):
        dispatcher.subscribe("one", lambda _s, _e: None)


def test_handler_writes_commit_with_the_cursor(node: Node) -> None:
    """A failing handler's writes roll back together with the cursor: nothing half-done."""
    calls = {"n": 0}

    def handler(session: Session, event: Event) -> None:
        calls["n"] += 1
        session.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (:id, 0, 'h')"),
            {"id": 1000 + calls["n"]},
        )
        if calls["n"] == 1:
            raise RuntimeError("first attempt fails")

    dispatcher = _dispatcher(node, backoff_seconds=0.0)
    dispatcher.subscribe("writer", handler)
    _emit(node, "w.one")
    report = dispatcher.run_once()
    assert (report.delivered, report.failed) == (0, 1)
    with node.database.reader() as session:
        assert session.execute(text("SELECT id FROM audit_head")).scalars().all() == []
    assert dispatcher.run_once().delivered == 1
    with node.database.reader() as session:
        assert session.execute(text("SELECT id FROM audit_head")).scalars().all() == [1002]


def test_failing_handler_backs_off_then_dead_letters(tmp_path: Path, database_url: str) -> None:
    node = make_node(
        tmp_path / "d", database_url=database_url, bus_max_attempts=3, bus_backoff_seconds=10
    )
    clock = node.clock
    assert isinstance(clock, FixedClock)
    attempts: list[str] = []

    def flaky(_session: Session, event: Event) -> None:
        attempts.append(event.type)
        if event.type == "bad.one":
            raise ValueError("cannot handle")

    node.dispatcher.subscribe("flaky", flaky)
    _emit(node, "bad.one", "good.two")
    node.dispatcher.run_once()
    assert attempts == ["bad.one"]
    node.dispatcher.run_once()  # backing off: 10 s not yet passed
    assert attempts == ["bad.one"]
    with node.database.reader() as session:
        cursor = session.get_one(SubscriberCursor, "flaky")
        assert cursor.attempts == 1
        assert cursor.next_attempt_at == clock.now() + timedelta(seconds=10)
        assert "ValueError: cannot handle" in (cursor.last_error or "")
    clock.advance(timedelta(seconds=10))
    node.dispatcher.run_once()
    clock.advance(timedelta(seconds=19))
    node.dispatcher.run_once()  # second backoff is 20 s
    assert attempts == ["bad.one", "bad.one"]
    clock.advance(timedelta(seconds=1))
    node.dispatcher.run_once()  # third failure: dead-lettered, then moves on
    assert attempts == ["bad.one"] * 3 + ["good.two"]
    with node.database.reader() as session:
        [letter] = list_dead_letters(session)
        assert (letter.subscriber, letter.attempts) == ("flaky", 3)
        assert "cannot handle" in letter.error
    node.close()


def test_replay_redelivers_dead_letters(tmp_path: Path, database_url: str) -> None:
    node = make_node(tmp_path / "d", database_url=database_url, bus_max_attempts=1)
    broken = {"on": True}
    handled: list[int] = []

    def handler(_session: Session, event: Event) -> None:
        if broken["on"]:
            raise RuntimeError("downstream offline")
        handled.append(event.seq)

    node.dispatcher.subscribe("mailer", handler)
    _emit(node, "m.one")
    assert node.dispatcher.run_once().dead_lettered == 1
    broken["on"] = False
    node.dispatcher.run_once()
    assert handled == []  # dead letters wait for an explicit replay
    with node.database.transaction() as session, pytest.raises(InvalidInput, match="999"):
        request_replay(session, clock=node.clock, ids=[999])
    with node.database.transaction() as session:
        assert len(request_replay(session, clock=node.clock, subscriber="mailer")) == 1
    assert node.dispatcher.run_once().replayed == 1
    assert len(handled) == 1
    with node.database.reader() as session:
        assert list_dead_letters(session) == []
        assert session.scalars(select(DeadLetter.replayed_at)).one() is not None
    node.close()


def test_stats_subscriber_counts_events(node: Node) -> None:
    _emit(node, "user.add", "user.add", "peer.add")
    node.dispatcher.run_once()
    with node.database.reader() as session:
        counts = {row.type: row.count for row in event_counts(session)}
    assert counts == {"user.add": 2, "peer.add": 1}
