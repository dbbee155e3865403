"""``watchkeeper audit``: verifying the ledger and finding every kind of tampering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Run, ok
from sqlalchemy import delete, insert, select, update

from watchkeeper.security import AuditEntry
from watchkeeper.security.audit import entry_hash
from watchkeeper.store import Database


@pytest.fixture
def database(data_dir: Path, database_url: str) -> Iterator[Database]:
    """Direct access to the node's database, for tampering behind the CLI's back."""
    db = Database(database_url)
    yield db
    db.dispose()


# --- audit --------------------------------------------------------------------------------------


def _four_entries() -> None:
    for name in ("alice", "bob", "carol"):
        ok("user", "add", name, "--role", "analyst")
    ok("token", "create", "alice")


def test_audit_verify_intact(data_dir: Path, run: Run) -> None:
    _four_entries()
    outcome = run("audit", "verify")
    assert outcome.code == 0
    assert "4 entries" in outcome.err
    as_json = run("audit", "verify", "--json")
    assert as_json.code == 0
    assert json.loads(as_json.out) == {"ok": True, "checked": 4, "bad_seq": None, "reason": None}


def test_audit_verify_on_an_empty_ledger(data_dir: Path, run: Run) -> None:
    outcome = run("audit", "verify", "--json")
    assert outcome.code == 0
    assert json.loads(outcome.out)["checked"] == 0


def _rows(database: Database) -> dict[int, dict[str, Any]]:
    with database.reader() as session:
        table = AuditEntry.__table__
        return {r.seq: dict(r._mapping) for r in session.execute(select(table))}


def _edit_actor(database: Database) -> None:
    with database.transaction() as session:
        session.execute(
            update(AuditEntry.__table__)
            .where(AuditEntry.__table__.c.seq == 2)
            .values(actor="cli:mallory")
        )


def _delete_middle(database: Database) -> None:
    with database.transaction() as session:
        session.execute(delete(AuditEntry.__table__).where(AuditEntry.__table__.c.seq == 2))


def _swap(database: Database) -> None:
    table = AuditEntry.__table__
    with database.transaction() as session:
        for old, new in ((2, -2), (3, 2), (-2, 3)):
            session.execute(update(table).where(table.c.seq == old).values(seq=new))


def _forged(prev: dict[str, Any], seq: int) -> dict[str, Any]:
    """A well-formed entry chained onto ``prev`` (what a forger with DB access can write)."""
    row = {
        "seq": seq,
        "at": prev["at"],
        "actor": "cli:mallory",
        "action": "user.add",
        "subject": "user:mallory",
        "outcome": "ok",
        "detail": {"roles": ["admin"]},
        "prev_hash": prev["hash"],
    }
    row["hash"] = entry_hash(
        prev_hash=row["prev_hash"],
        seq=seq,
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        outcome=row["outcome"],
        detail=row["detail"],
    )
    return row


def _insert_middle(database: Database) -> None:
    table = AuditEntry.__table__
    rows = _rows(database)
    with database.transaction() as session:
        for seq in (4, 3):
            session.execute(update(table).where(table.c.seq == seq).values(seq=seq + 1))
        session.execute(insert(table).values(**_forged(rows[2], 3)))


def _append(database: Database) -> None:
    rows = _rows(database)
    with database.transaction() as session:
        session.execute(insert(AuditEntry.__table__).values(**_forged(rows[4], 5)))


def _delete_last(database: Database) -> None:
    with database.transaction() as session:
        session.execute(delete(AuditEntry.__table__).where(AuditEntry.__table__.c.seq == 4))


TAMPERING = {
    "edit actor of entry 2": (_edit_actor, 2),
    "delete entry 2": (_delete_middle, 2),
    "swap entries 2 and 3": (_swap, 2),
    # The forged entry 3 chains onto entry 2; the genuine old 3 (now 4) no longer follows it.
    "insert forged entry in the middle": (_insert_middle, 4),
    "append forged entry 5": (_append, 5),
    "delete last entry": (_delete_last, 4),
}


@pytest.mark.parametrize("tamper", list(TAMPERING))
def test_audit_verify_finds_tampering(
    data_dir: Path, database: Database, run: Run, tamper: str
) -> None:
    action, bad_seq = TAMPERING[tamper]
    _four_entries()
    assert run("audit", "verify").code == 0
    action(database)

    outcome = run("audit", "verify")
    assert outcome.code == 1
    assert f"entry {bad_seq}" in outcome.err
    assert "BROKEN" in outcome.err

    as_json = run("audit", "verify", "--json")
    assert as_json.code == 1
    document = json.loads(as_json.out)
    assert document["ok"] is False
    assert document["bad_seq"] == bad_seq
    assert document["reason"]
