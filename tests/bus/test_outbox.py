"""The event log: events commit with their change, in sequence order."""

from __future__ import annotations

import threading

import pytest

from watchkeeper.bus import emit, last_seq, newest_events, read_events
from watchkeeper.node import Node


def test_emit_commits_with_the_transaction(node: Node) -> None:
    with node.database.transaction() as session:
        event = emit(
            session,
            type="case.opened",
            actor="user:a",
            subject="case:1",
            payload={"n": 1},
            clock=node.clock,
        )
        assert event.seq >= 1
    with node.database.reader() as session:
        [stored] = read_events(session)
    assert (stored.type, stored.actor, stored.subject, stored.payload) == (
        "case.opened",
        "user:a",
        "case:1",
        {"n": 1},
    )
    assert stored.occurred_at == node.clock.now()


def test_rolled_back_change_leaves_no_event(node: Node) -> None:
    with pytest.raises(ValueError, match="abort"), node.database.transaction() as session:
        emit(session, type="case.opened", actor="user:a", clock=node.clock)
        raise ValueError("abort")
    with node.database.reader() as session:
        assert read_events(session) == []
        assert last_seq(session) == 0


def test_filters_by_type_and_prefix(node: Node) -> None:
    with node.database.transaction() as session:
        for kind in ("user.add", "user.password", "peer.add", "token.create"):
            emit(session, type=kind, actor="t", clock=node.clock)
    with node.database.reader() as session:
        assert [e.type for e in read_events(session, types=["user.*"])] == [
            "user.add",
            "user.password",
        ]
        assert [e.type for e in read_events(session, types=["peer.add", "token.*"])] == [
            "peer.add",
            "token.create",
        ]
        assert [e.type for e in newest_events(session, limit=2)] == ["peer.add", "token.create"]
        assert [e.type for e in read_events(session, after=3)] == ["token.create"]


def test_concurrent_writers_get_gapless_increasing_sequence(node: Node) -> None:
    """Writers are serialised, so sequence order is commit order and no cursor skips."""
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for n in range(10):
                with node.database.transaction() as session:
                    emit(
                        session,
                        type="load.test",
                        actor=f"w{index}",
                        payload={"n": n},
                        clock=node.clock,
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with node.database.reader() as session:
        seqs = [e.seq for e in read_events(session, limit=1000)]
    assert len(seqs) == 40
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 40
