"""The audit ledger: every kind of tampering is found and the first bad entry named."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, update

from watchkeeper.node import Node
from watchkeeper.security import AuditEntry, AuditHead, list_entries, record, verify
from watchkeeper.security.audit import GENESIS, entry_hash


def _fill(node: Node, count: int = 5) -> None:
    for n in range(count):
        with node.database.transaction() as session:
            record(
                session,
                clock=node.clock,
                actor=f"user:u{n}",
                action="thing.do",
                subject=f"thing:{n}",
                detail={"n": n, "nested": {"b": [1, 2], "a": "x"}},
            )


def _verify(node: Node) -> tuple[bool, int | None, str | None]:
    with node.database.reader() as session:
        result = verify(session)
    return result.ok, result.bad_seq, result.reason


def test_chain_links_each_entry_to_the_previous(node: Node) -> None:
    _fill(node, 3)
    with node.database.reader() as session:
        entries = list_entries(session)
        assert verify(session).ok
        assert verify(session).checked == 3
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert entries[1].prev_hash == entries[0].hash
    assert entries[2].detail == {"n": 2, "nested": {"a": "x", "b": [1, 2]}}


def test_empty_ledger_verifies(node: Node) -> None:
    assert _verify(node) == (True, None, None)


def test_edited_row_is_found(node: Node) -> None:
    _fill(node)
    with node.database.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(actor="user:mallory"))
    ok, bad, reason = _verify(node)
    assert (ok, bad) == (False, 3)
    assert reason is not None and "altered" in reason


def test_edited_detail_is_found(node: Node) -> None:
    _fill(node)
    with node.database.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(detail={"n": 99}))
    assert _verify(node)[:2] == (False, 2)


def test_deleted_row_is_found(node: Node) -> None:
    _fill(node)
    with node.database.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    ok, bad, reason = _verify(node)
    assert (ok, bad) == (False, 2)
    assert reason is not None and "missing" in reason


def test_cut_tail_is_found(node: Node) -> None:
    _fill(node)
    with node.database.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    ok, bad, _ = _verify(node)
    assert (ok, bad) == (False, 5)


def test_inserted_row_is_found(node: Node) -> None:
    """A forged entry with a valid-looking hash, slipped in by renumbering, breaks the chain."""
    _fill(node)
    with node.database.transaction() as session:
        for seq in range(5, 2, -1):
            session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq + 1))
        second = session.get_one(AuditEntry, 2)
        at = second.at
        forged = entry_hash(
            prev_hash=second.hash,
            seq=3,
            at=at,
            actor="user:mallory",
            action="thing.do",
            subject=None,
            outcome="ok",
            detail={},
        )
        session.add(
            AuditEntry(
                seq=3,
                at=at,
                actor="user:mallory",
                action="thing.do",
                subject=None,
                outcome="ok",
                detail={},
                prev_hash=second.hash,
                hash=forged,
            )
        )
    ok, bad, reason = _verify(node)
    assert (ok, bad) == (False, 4)
    assert reason is not None and "does not follow" in reason


def test_reordered_rows_are_found(node: Node) -> None:
    _fill(node)
    with node.database.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(seq=-2))
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2))
        session.execute(update(AuditEntry).where(AuditEntry.seq == -2).values(seq=3))
    assert _verify(node)[:2] == (False, 2)


def test_altered_head_is_found(node: Node) -> None:
    _fill(node)
    with node.database.transaction() as session:
        session.execute(update(AuditHead).values(seq=9))
    assert _verify(node)[0] is False


def test_unknown_outcome_is_refused(node: Node) -> None:
    with pytest.raises(ValueError, match="outcome"), node.database.transaction() as session:
        record(session, clock=node.clock, actor="a", action="b", outcome="maybe")


def test_concurrent_appends_keep_one_chain(node: Node) -> None:
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for n in range(8):
                with node.database.transaction() as session:
                    record(
                        session, clock=node.clock, actor=f"w{index}", action="load", detail={"n": n}
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
        result = verify(session)
    assert (result.ok, result.checked) == (True, 32)


def test_rolled_back_action_leaves_no_entry(node: Node) -> None:
    with pytest.raises(RuntimeError), node.database.transaction() as session:
        record(session, clock=node.clock, actor="a", action="b")
        raise RuntimeError("the action failed")
    assert _verify(node) == (True, None, None)
    with node.database.reader() as session:
        assert list_entries(session) == []
