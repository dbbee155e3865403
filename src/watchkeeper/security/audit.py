"""The audit ledger: append-only, hash-chained record of every action on the node.

Each entry's hash is SHA-256 over the previous entry's hash and the canonical JSON of the entry
(seq, at, actor, action, subject, outcome, detail). ``audit_head`` keeps the newest seq and hash
in the same transaction, so editing, deleting, inserting or reordering rows, or cutting the
tail, is found by :func:`verify`. Appends are serialised (``store.serialize``) so the chain
never forks under concurrent writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, canonical_json, sha256_hex
from watchkeeper.security.models import AuditEntry, AuditHead
from watchkeeper.store import serialize

AUDIT_LOCK = "watchkeeper.audit"
GENESIS = "0" * 64
OUTCOMES = ("ok", "denied", "failed")


def entry_hash(
    *,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    outcome: str,
    detail: dict[str, Any],
) -> str:
    """The chained hash of one entry."""
    body = canonical_json(
        {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "outcome": outcome,
            "detail": detail,
        }
    )
    return sha256_hex(prev_hash.encode() + body)


def record(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    action: str,
    subject: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the session's transaction (it lands only if the action commits)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    serialize(session, AUDIT_LOCK)
    head = session.get(AuditHead, 1, with_for_update=True)
    seq = (head.seq if head else 0) + 1
    prev_hash = head.hash if head else GENESIS
    # Round-trip through canonical JSON so the stored detail hashes the same when read back.
    clean_detail: dict[str, Any] = orjson.loads(canonical_json(detail or {}))
    at = clock.now()
    digest = entry_hash(
        prev_hash=prev_hash,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        outcome=outcome,
        detail=clean_detail,
    )
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        outcome=outcome,
        detail=clean_detail,
        prev_hash=prev_hash,
        hash=digest,
    )
    session.add(entry)
    if head is None:
        session.add(AuditHead(id=1, seq=seq, hash=digest))
    else:
        head.seq, head.hash = seq, digest
    session.flush()
    return entry


@dataclass(frozen=True)
class Verification:
    """Result of checking the chain: ``bad_seq`` is the first entry that fails, if any."""

    ok: bool
    checked: int
    bad_seq: int | None = None
    reason: str | None = None


def verify(session: Session, *, batch: int = 5000) -> Verification:
    """Walk the whole ledger in order and report the first entry that breaks the chain."""
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    last_seen = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq > last_seen)
                .order_by(AuditEntry.seq)
                .limit(batch)
            )
        )
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return Verification(
                    False,
                    checked,
                    expected_seq,
                    f"entry {expected_seq} is missing (next present is {row.seq})",
                )
            if row.prev_hash != prev_hash:
                return Verification(
                    False,
                    checked,
                    row.seq,
                    f"entry {row.seq} does not follow entry {row.seq - 1} "
                    "(previous hash differs: inserted, deleted or reordered)",
                )
            digest = entry_hash(
                prev_hash=row.prev_hash,
                seq=row.seq,
                at=row.at,
                actor=row.actor,
                action=row.action,
                subject=row.subject,
                outcome=row.outcome,
                detail=row.detail,
            )
            if digest != row.hash:
                return Verification(
                    False, checked, row.seq, f"entry {row.seq} was altered (hash differs)"
                )
            prev_hash, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
        last_seen = rows[-1].seq
    head = session.get(AuditHead, 1)
    if head is None and checked:
        return Verification(False, checked, checked, "ledger head is missing")
    if head is not None and head.seq < checked:
        return Verification(
            False,
            checked,
            head.seq + 1,
            f"entries after {head.seq} were added behind the ledger head (which records "
            f"entry {head.seq})",
        )
    if head is not None and head.seq > checked:
        return Verification(
            False,
            checked,
            checked + 1,
            f"ledger ends at entry {checked} but its head records entry {head.seq} "
            "(entries cut from the end)",
        )
    if head is not None and head.hash != prev_hash:
        return Verification(
            False, checked, head.seq, f"entry {head.seq} differs from the ledger head's hash"
        )
    return Verification(True, checked)


def list_entries(
    session: Session, *, after: int = 0, limit: int = 100, action: str | None = None
) -> list[AuditEntry]:
    """Entries after ``after`` in order, optionally of one action."""
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))


def entry_document(entry: AuditEntry) -> dict[str, Any]:
    """An entry as JSON-ready dict."""
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "outcome": entry.outcome,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
