"""Writing batches of prepared STIX objects: versions, current flags, values, provenance.

A batch is one transaction: its objects, their values and their provenance land together or
not at all, so a killed import leaves whole batches and a re-run completes the rest (what
landed is then reported unchanged). Rows go in with the driver's ``executemany`` over plain
tuples: this is the hot path of every import (benchmarks/intel_ingest.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, stix_time
from watchkeeper.errors import InvalidInput
from watchkeeper.intel.stix import Prepared, complete
from watchkeeper.store import serialize

OBJECT_LOCK = "watchkeeper.intel.objects"
LOOKUP_CHUNK = 500
EXISTING = "SELECT seq, id, modified, content_hash, current FROM intel_objects WHERE id IN "
# Above the largest stored number and above any deleted one (see ``SeqFloor``), so a number
# is never handed out twice and cursors over ``seq`` never pass over a new version.
SEQ_FLOOR = "intel_objects"
NEXT_SEQ = (
    "SELECT MAX(top) + 1 FROM (SELECT COALESCE(MAX(seq), 0) AS top FROM intel_objects "
    "UNION ALL SELECT seq AS top FROM intel_seq_floor WHERE name = 'intel_objects') AS tops"
)


@dataclass
class BatchOutcome:
    """What storing one batch did; ``rejects`` are (position in batch, id, reason)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    warninglisted: int = 0
    rejects: list[tuple[int, str, str]] = field(default_factory=list)


def _sql(connection: Connection, statement: str) -> str:
    """Adapt ``?`` placeholders to the driver's parameter style."""
    if connection.dialect.paramstyle == "qmark":
        return statement
    return statement.replace("?", "%s")


def _existing(
    connection: Connection, ids: list[str]
) -> tuple[dict[tuple[str, str], tuple[int, str]], dict[str, tuple[int, str]]]:
    """Stored versions of ``ids`` ((id, modified) -> (seq, hash)) and their current ones."""
    versions: dict[tuple[str, str], tuple[int, str]] = {}
    current: dict[str, tuple[int, str]] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        marks = ",".join("?" * len(chunk))  # placeholders only: no value enters the SQL text
        rows = connection.exec_driver_sql(
            _sql(connection, EXISTING + f"({marks})"),
            tuple(chunk),
        )
        for seq, identifier, modified, digest, is_current in rows:
            versions[(identifier, modified)] = (seq, digest)
            if is_current:
                current[identifier] = (seq, modified)
    return versions, current


def store_batch(
    session: Session,
    *,
    batch: Sequence[Prepared],
    import_id: str,
    clock: Clock,
    on_new: Callable[[list[Prepared]], None] | None = None,
) -> BatchOutcome:
    """Store a batch of identified objects in the session's transaction (the caller commits).

    Versions already stored only gain provenance. New ones are completed here (values
    extracted; a bad pattern is rejected with its place) and handed to ``on_new`` (warninglist
    flags) before they are written, so a re-import skips the costly part. New versions are
    stamped with the time they are added (TAXII ``date_added``), read under the lock and never
    earlier than the last stamp, so it does not decrease along ``seq``.
    """
    serialize(session, OBJECT_LOCK)
    connection = session.connection()
    outcome = BatchOutcome()
    versions, current = _existing(connection, list({p.id for p in batch}))
    before = dict(current)
    next_seq: int = connection.exec_driver_sql(NEXT_SEQ).scalar_one()
    last_added = connection.exec_driver_sql("SELECT MAX(added_at) FROM intel_objects").scalar()
    added_at = max(stix_time(clock.now()), last_added or "")
    new: list[tuple[int, Prepared]] = []
    provenance: list[tuple[int, str]] = []
    for position, prepared in enumerate(batch):
        known = versions.get((prepared.id, prepared.modified))
        if known is not None:
            if known[1] == prepared.content_hash:
                outcome.unchanged += 1
                provenance.append((known[0], import_id))
            else:
                outcome.rejects.append(
                    (
                        position,
                        prepared.id,
                        f"a different object with this id and modified {prepared.modified} is "
                        "already stored (a new version needs a new modified)",
                    )
                )
            continue
        try:
            complete(prepared)
        except InvalidInput as exc:
            outcome.rejects.append((position, prepared.id, exc.message))
            continue
        seq, next_seq = next_seq, next_seq + 1
        versions[(prepared.id, prepared.modified)] = (seq, prepared.content_hash)
        new.append((seq, prepared))
        provenance.append((seq, import_id))
        newest = current.get(prepared.id)
        if newest is None:
            outcome.created += 1
        else:
            outcome.updated += 1
        if newest is None or prepared.modified > newest[1]:
            current[prepared.id] = (seq, prepared.modified)
    if new:
        if on_new is not None:
            on_new([p for _, p in new])
        outcome.warninglisted += sum(1 for _, p in new if any(p.warninglists))
        _insert(connection, new, current, before, added_at)
    if provenance:
        connection.exec_driver_sql(
            _sql(
                connection,
                "INSERT INTO intel_provenance (object_seq, import_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
            ),
            provenance,
        )
    return outcome


def _insert(
    connection: Connection,
    new: list[tuple[int, Prepared]],
    current: dict[str, tuple[int, str]],
    before: dict[str, tuple[int, str]],
    added_at: str,
) -> None:
    current_seqs = {seq for seq, _ in current.values()}
    connection.exec_driver_sql(
        _sql(
            connection,
            "INSERT INTO intel_objects (seq, id, type, modified, created, spec_version, revoked, "
            "current, confidence, tlp, matchable, content_hash, doc, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ),
        [
            (
                seq,
                p.id,
                p.type,
                p.modified,
                p.created,
                p.spec_version,
                p.revoked,
                seq in current_seqs,
                p.confidence,
                p.tlp,
                p.matchable,
                p.content_hash,
                p.doc,
                added_at,
            )
            for seq, p in new
        ],
    )
    demoted = [
        (False, seq) for identifier, (seq, _) in before.items() if current[identifier][0] != seq
    ]
    if demoted:
        connection.exec_driver_sql(
            _sql(connection, "UPDATE intel_objects SET current = ? WHERE seq = ?"), demoted
        )
    values = [
        (seq, v.kind, v.value, hits)
        for seq, p in new
        for v, hits in itertools.zip_longest(p.values, p.warninglists)
    ]
    if values:
        connection.exec_driver_sql(
            _sql(
                connection,
                "INSERT INTO intel_values (object_seq, kind, value, warninglists) "
                "VALUES (?, ?, ?, ?)",
            ),
            values,
        )
