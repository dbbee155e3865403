"""Sightings and false-positive reports: the feedback that raises or lowers an indicator's score.

Both are stored as STIX 2.1 objects through the ordinary store (a ``sighting`` with
``sighting_of_ref``; an ``opinion`` "strongly-disagree" with ``object_refs``), so they version,
export and federate like everything else, and a partner's sightings and opinions arriving by
import count exactly as local ones do. Local ones are delivered by an import whose source is
``local:sightings``, which is what makes this node's analysts trusted reporters by default.

Each call writes its objects, its import record and its audit entry and event in one
transaction. They inherit the TLP markings of the indicators they name: a sighting tells
where an indicator was seen, which is at least as sensitive as the indicator.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, new_id
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.intel.lookup import lookup
from watchkeeper.intel.models import ImportRun, StixObject
from watchkeeper.intel.scoring import stamp
from watchkeeper.intel.stix import identify
from watchkeeper.intel.store import store_batch
from watchkeeper.security import record_change
from watchkeeper.store import Database

SOURCE = "local:sightings"
INDICATOR_ID = re.compile(r"^indicator--[0-9a-fA-F-]{36}$")
REF = re.compile(r"^(identity|location)--[0-9a-fA-F-]{36}$")
MAX_REASON = 4000


@dataclass(frozen=True)
class Recorded:
    """What a sighting or false-positive report stored."""

    action: str
    indicators: tuple[str, ...]
    objects: tuple[str, ...]
    import_id: str

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "action": self.action,
            "indicators": list(self.indicators),
            "objects": list(self.objects),
            "import": self.import_id,
        }


def is_indicator_id(text: str) -> bool:
    """Whether ``text`` is a STIX indicator id (else it is taken as a value)."""
    return INDICATOR_ID.match(text.strip()) is not None


def record_sighting(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    indicator_id: str | None = None,
    value: str | None = None,
    count: int = 1,
    seen_at: datetime | None = None,
    where: str | None = None,
) -> Recorded:
    """Record that an indicator (or every current indicator matching ``value``) was seen.

    ``where`` is an identity or location id (``where_sighted_refs``) or free text (kept as the
    sighting's description). ``NotFound`` when nothing matches.
    """
    if count < 1:
        raise InvalidInput("count: expected 1 or more", field="count")
    now = stamp(clock.now())
    seen = stamp(seen_at) if seen_at is not None else now
    with database.transaction() as session:
        targets = _targets(session, indicator_id=indicator_id, value=value)
        objects = []
        for target, markings in targets.items():
            sighting: dict[str, Any] = {
                "type": "sighting",
                "spec_version": "2.1",
                "id": f"sighting--{uuid.uuid4()}",
                "created": now,
                "modified": now,
                "sighting_of_ref": target,
                "count": count,
                "first_seen": seen,
                "last_seen": seen,
            }
            if where and REF.match(where.strip()):
                sighting["where_sighted_refs"] = [where.strip()]
            elif where:
                sighting["description"] = f"seen at: {where[:1000]}"
            objects.append(_marked(sighting, markings))
        return _store(
            session,
            clock=clock,
            actor=actor,
            action="intel.sighting",
            objects=objects,
            targets=tuple(targets),
            detail={"count": count, "seen_at": seen, "where": where},
        )


@dataclass(frozen=True)
class Observation:
    """An indicator seen ``count`` times between two instants (a detection's hits)."""

    indicator_id: str
    count: int
    first_seen: datetime
    last_seen: datetime
    where: str | None = None
    retro: bool = False  # found by searching retained telemetry after the indicator arrived


def write_sightings(
    session: Session, *, clock: Clock, actor: str, observations: Sequence[Observation]
) -> Recorded | None:
    """Store one sighting per observation in the session's transaction (the caller commits).

    Detection writes its alerts, these sightings and their events together, so a crash never
    leaves an alert without its sighting. An indicator no longer current (replaced while the
    telemetry was read) is sighted under its id all the same; its markings are those of its
    latest version. Retro-hunt hits carry ``x_watchkeeper_retro``.
    """
    if not observations:
        return None
    o = StixObject
    ids = sorted({item.indicator_id for item in observations})
    markings: dict[str, list[str]] = {}
    for identifier, doc in session.execute(
        select(o.id, o.doc).where(o.id.in_(ids), o.type == "indicator").order_by(o.seq)
    ):
        markings[identifier] = list(orjson.loads(doc).get("object_marking_refs") or [])
    now = stamp(clock.now())
    objects = []
    for item in observations:
        if item.indicator_id not in markings:
            raise NotFound(f"no indicator {item.indicator_id}", field="indicator")
        sighting: dict[str, Any] = {
            "type": "sighting",
            "spec_version": "2.1",
            "id": f"sighting--{uuid.uuid4()}",
            "created": now,
            "modified": now,
            "sighting_of_ref": item.indicator_id,
            "count": max(1, min(item.count, 999_999_999)),
            "first_seen": stamp(item.first_seen),
            "last_seen": stamp(item.last_seen),
        }
        if item.where:
            sighting["description"] = f"seen at: {item.where[:1000]}"
        if item.retro:
            sighting["x_watchkeeper_retro"] = True
        objects.append(_marked(sighting, markings[item.indicator_id]))
    return _store(
        session,
        clock=clock,
        actor=actor,
        action="intel.sighting",
        objects=objects,
        targets=tuple(ids),
        detail={
            "count": sum(item.count for item in observations),
            "retro": any(item.retro for item in observations),
        },
    )


def report_false_positive(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    reason: str,
    indicator_id: str | None = None,
    value: str | None = None,
) -> Recorded:
    """Report an indicator (or every current one matching ``value``) as a false positive.

    Stored as one STIX opinion "strongly-disagree" naming the indicators, with ``reason`` as
    its explanation; a report from this node zeroes their scores (see ``scoring``).
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason: say why this is a false positive", field="reason")
    now = stamp(clock.now())
    with database.transaction() as session:
        targets = _targets(session, indicator_id=indicator_id, value=value)
        markings = sorted({m for refs in targets.values() for m in refs})
        opinion = {
            "type": "opinion",
            "spec_version": "2.1",
            "id": f"opinion--{uuid.uuid4()}",
            "created": now,
            "modified": now,
            "opinion": "strongly-disagree",
            "object_refs": list(targets),
            "explanation": f"false positive: {reason[:MAX_REASON]}",
            "authors": [actor],
        }
        return _store(
            session,
            clock=clock,
            actor=actor,
            action="intel.false_positive",
            objects=[_marked(opinion, markings)],
            targets=tuple(targets),
            detail={"reason": reason[:MAX_REASON]},
        )


def write_false_positive(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    reason: str,
    indicator_ids: Sequence[str],
) -> Recorded | None:
    """Report indicators as false positives in the session's transaction (the caller commits).

    Closing a case as a false positive must lower the scores together with the closing, or
    not at all. Indicators no longer current or revoked are left out (their score no longer
    matters); None when none is left.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason: say why this is a false positive", field="reason")
    o = StixObject
    rows = session.execute(
        select(o.id, o.doc).where(
            o.id.in_(sorted(set(indicator_ids))),
            o.type == "indicator",
            o.current.is_(True),
            o.revoked.is_(False),
        )
    ).all()
    if not rows:
        return None
    targets = {
        identifier: list(orjson.loads(doc).get("object_marking_refs") or [])
        for identifier, doc in rows
    }
    now = stamp(clock.now())
    opinion = {
        "type": "opinion",
        "spec_version": "2.1",
        "id": f"opinion--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "opinion": "strongly-disagree",
        "object_refs": sorted(targets),
        "explanation": f"false positive: {reason[:MAX_REASON]}",
        "authors": [actor],
    }
    markings = sorted({m for refs in targets.values() for m in refs})
    return _store(
        session,
        clock=clock,
        actor=actor,
        action="intel.false_positive",
        objects=[_marked(opinion, markings)],
        targets=tuple(sorted(targets)),
        detail={"reason": reason[:MAX_REASON]},
    )


def resolve(target: str) -> tuple[str | None, str | None]:
    """(indicator_id, value) from what a user typed: an indicator id or a value."""
    return (target.strip(), None) if is_indicator_id(target) else (None, target)


def _targets(
    session: Session, *, indicator_id: str | None, value: str | None
) -> dict[str, list[str]]:
    """Current, unrevoked indicators meant, with their marking refs; ``NotFound`` if none."""
    if (indicator_id is None) == (value is None):
        raise InvalidInput("give an indicator id or a value (one of them)", field="indicator")
    if indicator_id is not None:
        ids = [indicator_id.strip()]
    else:
        assert value is not None
        ids = sorted(
            {
                row["id"]
                for row in lookup(session, value=value, scored=False)
                if row["type"] == "indicator" and row["current"] and not row["revoked"]
            }
        )
    o = StixObject
    rows = session.execute(
        select(o.id, o.doc).where(
            o.id.in_(ids), o.type == "indicator", o.current.is_(True), o.revoked.is_(False)
        )
    ).all()
    if not rows:
        raise NotFound(
            f"no current indicator {'with id ' + ids[0] if indicator_id else 'matches that value'}",
            field="indicator",
        )
    return {
        identifier: list(orjson.loads(doc).get("object_marking_refs") or [])
        for identifier, doc in rows
    }


def _marked(obj: dict[str, Any], markings: list[str]) -> dict[str, Any]:
    return {**obj, "object_marking_refs": markings} if markings else obj


def _store(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    action: str,
    objects: list[dict[str, Any]],
    targets: tuple[str, ...],
    detail: dict[str, Any],
) -> Recorded:
    """Store ``objects`` as one import of ``local:sightings`` and audit ``action``."""
    import_id = new_id()
    now = clock.now()
    prepared = [identify(obj) for obj in objects]
    session.add(
        ImportRun(
            id=import_id,
            source=SOURCE,
            format="stix",
            actor=actor,
            started_at=now,
            finished_at=now,
            status="done",
            counts={"created": len(prepared)},
            rejects=[],
        )
    )
    session.flush()
    outcome = store_batch(session, batch=prepared, import_id=import_id, clock=clock)
    if outcome.rejects:  # our own objects: a reject is a bug, never partial feedback
        raise InvalidInput(outcome.rejects[0][2], field="object")
    ids = tuple(p.id for p in prepared)
    record_change(
        session,
        clock=clock,
        actor=actor,
        action=action,
        subject=targets[0] if len(targets) == 1 else None,
        detail={**detail, "indicators": list(targets), "objects": list(ids), "import": import_id},
    )
    return Recorded(action=action, indicators=targets, objects=ids, import_id=import_id)
