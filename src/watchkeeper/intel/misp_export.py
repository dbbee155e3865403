"""Exporting intelligence as MISP events and as a MISP feed directory.

Partners running MISP take events, and pull feeds (``manifest.json``, ``<uuid>.json`` per
event, ``hashes.csv``) without an account on our node. Both are built from the indexed values
of current, unrevoked, unexpired indicators (``intel_values``), streamed from the database:

- a value becomes one ``to_ids`` attribute (kind -> MISP type in ``KIND_TYPES``), tagged with
  the indicator's TLP and labels;
- TLP:RED is never exported and nothing above ``max_tlp`` is; an object without TLP marking
  counts as ``UNMARKED`` (TLP:AMBER), so it only leaves when AMBER may, and is tagged so;
- values that hit a warninglist are left out: partners would only get false positives;
- uuids are uuid5 of our STIX ids, so an unchanged store exports byte-identical events and a
  MISP that pulls twice sees the same events, not copies.

``export_misp_event`` gives one event: a STIX report's indicators, or a selection of
indicators. ``export_misp_feed`` writes a feed: one event per current report, and one event
per day of creation for the indicators no report carries (the day-events of public MISP
feeds). Each export is audited (``intel.export``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import ColumnElement, not_, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.core.tlp import Tlp
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.intel.misp_attributes import NAMESPACE
from watchkeeper.intel.misp_events import KIND_TYPES, UNMARKED, EventFile, MispEvent, stix_now
from watchkeeper.intel.models import IndicatorValue, StixObject
from watchkeeper.intel.tlp_gate import withheld_by_tlp
from watchkeeper.security import record_change
from watchkeeper.store import Database

CHUNK = 500
STREAM = 2000


@dataclass
class MispExport:
    """What an export wrote."""

    format: str
    events: int = 0
    attributes: int = 0
    path: str | None = None
    uuids: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "format": self.format,
            "events": self.events,
            "attributes": self.attributes,
            "path": self.path,
        }


def _allowed(max_tlp: Tlp) -> list[str]:
    if max_tlp is Tlp.RED:
        raise InvalidInput("TLP:RED is never exported; give a lower --max-tlp", field="max_tlp")
    return [level.value for level in Tlp if level <= max_tlp]


def _tlp_filter(max_tlp: Tlp) -> Any:
    """Objects releasable up to ``max_tlp``, by their own and by any granular TLP marking."""
    return not_(withheld_by_tlp(max_tlp=max_tlp, unmarked_tlp=UNMARKED))


def _rows(
    session: Session,
    *,
    max_tlp: Tlp,
    ids: Sequence[str] | None,
    where: Sequence[ColumnElement[bool]] = (),
) -> Iterator[Sequence[Any]]:
    """Exportable value rows of the indicators ``ids`` (all, ordered by creation, if None)."""
    query = (
        select(
            StixObject.id,
            StixObject.modified,
            StixObject.created,
            StixObject.tlp,
            StixObject.doc,
            IndicatorValue.kind,
            IndicatorValue.value,
        )
        .join(IndicatorValue, IndicatorValue.object_seq == StixObject.seq)
        .where(
            StixObject.type == "indicator",
            StixObject.current,
            StixObject.revoked.is_(False),
            IndicatorValue.warninglists.is_(None),
            IndicatorValue.kind.in_(list(KIND_TYPES)),
            _tlp_filter(max_tlp),
            *where,
        )
    )
    if ids is None:
        ordered = query.order_by(StixObject.created, StixObject.seq, IndicatorValue.id)
        yield from session.execute(ordered, execution_options={"yield_per": STREAM})
        return
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        yield from session.execute(
            query.where(StixObject.id.in_(chunk)).order_by(StixObject.seq, IndicatorValue.id)
        )


def _current(session: Session, identifier: str) -> StixObject:
    found = session.scalar(
        select(StixObject).where(StixObject.id == identifier, StixObject.current)
    )
    if found is None:
        raise NotFound(f"no stored object {identifier}", id=identifier)
    return found


def _report_event(
    report: StixObject, *, organisation: str, sink: Callable[[dict[str, Any]], None]
) -> tuple[MispEvent, list[str]]:
    """The event of a STIX report, and the ids it refers to."""
    doc = orjson.loads(report.doc)
    refs = [ref for ref in doc.get("object_refs") or () if str(ref).startswith("indicator--")]
    event = MispEvent(
        event_uuid=str(uuid.uuid5(NAMESPACE, f"report-event|{report.id}")),
        info=str(doc.get("name") or report.id),
        organisation=organisation,
        sink=sink,
        labels=doc.get("labels"),
        level=Tlp(report.tlp) if report.tlp else None,
        modified=report.modified,
        day=str(doc.get("published") or report.modified)[:10],
    )
    return event, refs


def _audit(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    subject: str,
    export: MispExport,
    max_tlp: Tlp,
    detail: dict[str, Any] | None = None,
) -> None:
    with database.transaction() as session:
        record_change(
            session,
            clock=clock,
            actor=actor,
            action="intel.export",
            subject=subject[:300],
            detail={**export.document(), "max_tlp": max_tlp.label, **(detail or {})},
        )


def export_misp_event(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    report: str | None = None,
    indicators: Sequence[str] | None = None,
    info: str | None = None,
    max_tlp: Tlp = Tlp.AMBER,
    organisation: str = "Watchkeeper",
) -> dict[str, Any]:
    """One MISP event (``{"Event": ...}``): a report's indicators, or a selection of them.

    With neither ``report`` nor ``indicators``, every exportable indicator of the store goes
    into the one event; for large stores a feed (``export_misp_feed``) is the better form.
    """
    _allowed(max_tlp)
    if report is not None and indicators is not None:
        raise InvalidInput("give a report or indicators, not both", field="report")
    attributes: list[dict[str, Any]] = []
    now = stix_now(clock)
    with database.reader() as session:
        if report is not None:
            stored = _current(session, report)
            if stored.type != "report" or stored.revoked:
                raise InvalidInput(f"{report} is not a current, unrevoked report", field="report")
            if Tlp(stored.tlp or UNMARKED.value) > max_tlp:
                raise InvalidInput(
                    f"{report} is {Tlp(stored.tlp or UNMARKED.value).label}, above "
                    f"{max_tlp.label}; not exported",
                    field="report",
                )
            event, refs = _report_event(stored, organisation=organisation, sink=attributes.append)
            ids: Sequence[str] | None = refs
        else:
            ids = sorted(set(indicators)) if indicators is not None else None
            selection = "all" if ids is None else "|".join(ids)
            title = info or f"{organisation} indicators"
            event = MispEvent(
                event_uuid=str(uuid.uuid5(NAMESPACE, f"selection|{title}|{selection}")),
                info=title,
                organisation=organisation,
                sink=attributes.append,
            )
        for row in _rows(session, max_tlp=max_tlp, ids=ids):
            event.add(row, now=now)
    if info is not None:
        event.info = info
    document = {"Event": {**event.head(clock), "Attribute": attributes}}
    export = MispExport("misp", events=1, attributes=event.count, uuids=[event.uuid])
    _audit(database, clock=clock, actor=actor, subject=f"misp-event:{event.uuid}", export=export,
           max_tlp=max_tlp)  # fmt: skip
    return document


def export_misp_feed(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    directory: Path | str,
    max_tlp: Tlp = Tlp.AMBER,
    organisation: str = "Watchkeeper",
    where: Sequence[ColumnElement[bool]] = (),
    detail: dict[str, Any] | None = None,
) -> MispExport:
    """Write a MISP feed into ``directory`` (created; events of an earlier export replaced).

    ``where`` narrows what goes in with more conditions on
    :class:`~watchkeeper.intel.StixObject` (the federation's sharing policy for an audience,
    when a feed is published to a community); ``detail`` is added to the audit entry.
    """
    _allowed(max_tlp)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    export = MispExport("misp-feed", path=str(folder))
    manifest: dict[str, Any] = {}
    now = stix_now(clock)
    hashes_part = folder / ".hashes.csv.part"

    def finish(file: EventFile) -> None:
        entry = file.close(clock)
        if entry is not None:
            manifest[file.event.uuid] = entry
            export.events += 1
            export.attributes += file.event.count

    with database.reader() as session, hashes_part.open("w", encoding="utf-8") as hashes:
        reports = session.scalars(
            select(StixObject)
            .where(
                StixObject.type == "report",
                StixObject.current,
                StixObject.revoked.is_(False),
                _tlp_filter(max_tlp),
                *where,
            )
            .order_by(StixObject.seq)
        ).all()
        carried: set[str] = set()
        for stored in reports:
            event, refs = _report_event(stored, organisation=organisation, sink=lambda a: None)
            file = EventFile(folder, event, hashes=hashes)
            for row in _rows(session, max_tlp=max_tlp, ids=refs, where=where):
                if event.add(row, now=now):
                    carried.add(row[0])
            finish(file)
        daily: EventFile | None = None
        for row in _rows(session, max_tlp=max_tlp, ids=None, where=where):
            day = row[2][:10]
            if row[0] in carried:
                continue
            if daily is None or daily.event.day != day:
                if daily is not None:
                    finish(daily)
                event = MispEvent(
                    event_uuid=str(uuid.uuid5(NAMESPACE, f"day|{organisation}|{day}")),
                    info=f"{organisation} indicators created {day}",
                    organisation=organisation,
                    sink=lambda a: None,
                    day=day,
                )
                daily = EventFile(folder, event, hashes=hashes)
            daily.event.add(row, now=now)
        if daily is not None:
            finish(daily)
    hashes_part.replace(folder / "hashes.csv")
    (folder / ".manifest.json.part").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)
    )
    (folder / ".manifest.json.part").replace(folder / "manifest.json")
    for stale in folder.glob("*.json"):
        if stale.stem not in manifest and _is_uuid(stale.stem):
            stale.unlink()
    export.uuids = sorted(manifest)
    _audit(database, clock=clock, actor=actor, subject=f"misp-feed:{folder}", export=export,
           max_tlp=max_tlp, detail=detail)  # fmt: skip
    return export


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
