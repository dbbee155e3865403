"""Deleting stored object versions (a TAXII DELETE): rows, values, provenance, current flags.

STIX objects are otherwise never changed in place; deletion exists because a partner may take
back what it sent by mistake, and an administrator may remove what must not be kept. It keeps
the store's invariants: the newest remaining version of each object becomes current again, and
the largest deleted ``seq`` is kept as the sequence's floor (:class:`~.models.SeqFloor`), so its
number is never handed out again and no reader's cursor passes over a later version.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from watchkeeper.intel.models import IndicatorValue, Provenance, SeqFloor, StixObject
from watchkeeper.intel.store import OBJECT_LOCK, SEQ_FLOOR
from watchkeeper.store import serialize

CHUNK = 500


def delete_versions(session: Session, *, seqs: Collection[int]) -> list[tuple[str, str]]:
    """Delete the object versions ``seqs`` in the session's transaction (the caller commits and
    records why); returns the (id, modified) of the versions deleted, in ``seq`` order.

    Runs under the lock imports take, so a batch being stored never sees half a deletion.
    """
    wanted = sorted(set(seqs))
    if not wanted:
        return []
    serialize(session, OBJECT_LOCK)
    o = StixObject
    found: list[tuple[int, str, str]] = []
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        found += [
            (seq, identifier, modified)
            for seq, identifier, modified in session.execute(
                select(o.seq, o.id, o.modified).where(o.seq.in_(chunk))
            )
        ]
        session.execute(delete(IndicatorValue).where(IndicatorValue.object_seq.in_(chunk)))
        session.execute(delete(Provenance).where(Provenance.object_seq.in_(chunk)))
        session.execute(delete(o).where(o.seq.in_(chunk)))
    if not found:
        return []
    found.sort()
    _raise_floor(session, found[-1][0])
    _elect_current(session, {identifier for _, identifier, _ in found})
    return [(identifier, modified) for _, identifier, modified in found]


def _raise_floor(session: Session, seq: int) -> None:
    floor = session.get(SeqFloor, SEQ_FLOOR)
    if floor is None:
        session.add(SeqFloor(name=SEQ_FLOOR, seq=seq))
    elif floor.seq < seq:
        floor.seq = seq
    session.flush()


def _elect_current(session: Session, ids: set[str]) -> None:
    """Make the newest remaining version of each of ``ids`` current (a no-op where it is)."""
    o = StixObject
    for identifier in sorted(ids):
        newest = session.scalar(select(func.max(o.modified)).where(o.id == identifier))
        if newest is None:
            continue
        session.execute(
            update(o)
            .where(o.id == identifier, o.modified == newest, o.current.is_(False))
            .values(current=True)
        )
