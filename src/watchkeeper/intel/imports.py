"""Importing intelligence: read, check, store in batches, report, audit.

An import is recorded in ``intel_imports`` when it starts and updated with each committed
batch, so its counts always match what landed. A bad object is rejected with its file, index,
id and reason while the rest lands; a file that cannot be read at all is reported whole and
the next file goes on. The finished import writes one audit entry and one ``intel.imported``
event (not one per object: detection refreshes from it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select

from watchkeeper.core import Clock, new_id
from watchkeeper.core.tlp import Tlp, tlp_from_marking_definition
from watchkeeper.errors import InvalidInput, WatchkeeperError
from watchkeeper.intel.bundles import first, read_objects
from watchkeeper.intel.inputs import DEFAULT_MAX_BYTES, Input, open_input
from watchkeeper.intel.models import ImportRun, StixObject
from watchkeeper.intel.stix import Prepared, identify
from watchkeeper.intel.store import store_batch
from watchkeeper.intel.warninglist_files import default_warninglists
from watchkeeper.intel.warninglists import WarninglistMatcher
from watchkeeper.security import record_change
from watchkeeper.store import Database

BATCH = 20000
KEPT_REJECTS = 1000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Reject:
    """One object (or file) that did not land, and why."""

    file: str
    index: int | None
    id: str | None
    reason: str

    def document(self) -> dict[str, Any]:
        """As JSON."""
        return {"file": self.file, "index": self.index, "id": self.id, "reason": self.reason}


@dataclass
class ImportReport:
    """The outcome of one import."""

    id: str
    source: str
    format: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    warninglisted: int = 0
    rejects: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "running"

    @property
    def counts(self) -> dict[str, int]:
        """The five figures of the summary."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "warninglisted": self.warninglisted,
        }

    def document(self) -> dict[str, Any]:
        """As JSON (rejects limited to the first ones kept)."""
        return {
            "id": self.id,
            "source": self.source,
            "format": self.format,
            "status": self.status,
            **self.counts,
            "seconds": round(self.seconds, 3),
            "rejects": [r.document() for r in self.rejects],
        }

    def reject(self, item: Reject) -> None:
        """Count a reject and keep its details (the first ones)."""
        self.rejected += 1
        if len(self.rejects) < KEPT_REJECTS:
            self.rejects.append(item)


Item = tuple[str, int, Any]
"""(file, index, STIX object as a dict): what every importer hands to :func:`run_import`."""
Reader = Callable[[Callable[[Reject], None]], Iterator[Item]]
"""Yields the items of an import; calls its argument for whole files it cannot read."""


def stix_reader(inputs: Iterable[Input], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Reader:
    """The items of STIX bundles (files, directories, gzip, stdin)."""

    def read(reject: Callable[[Reject], None]) -> Iterator[Item]:
        for source in inputs:
            try:
                with open_input(source, max_bytes=max_bytes) as stream:
                    for index, obj in enumerate(read_objects(stream)):
                        yield source.name, index, obj
            except InvalidInput as exc:
                reject(Reject(source.name, None, None, exc.message))

    return read


def tlp_markings(objects: Iterable[Any]) -> dict[str, Tlp]:
    """TLP marking definitions among ``objects`` that use their own ids, by id.

    Scanned for a whole batch before its objects are checked, so an object marked with a
    definition that comes later in the same batch still gets its TLP (and a RED one stays RED).
    """
    found: dict[str, Tlp] = {}
    for obj in objects:
        if isinstance(obj, dict) and obj.get("type") == "marking-definition":
            identifier = obj.get("id")
            try:
                level = tlp_from_marking_definition(obj)
            except WatchkeeperError:
                continue  # an unknown level: the definition itself is rejected by identify
            if level is not None and isinstance(identifier, str):
                found[identifier] = level
    return found


def stored_tlp_markings(database: Database) -> dict[str, Tlp]:
    """The TLP marking definitions already in the store (few: one per level and producer)."""
    with database.reader() as session:
        docs = session.scalars(
            select(StixObject.doc).where(
                StixObject.type == "marking-definition", StixObject.current.is_(True)
            )
        )
        return tlp_markings(orjson.loads(doc) for doc in docs)


def flag_warninglisted(prepared: list[Prepared], matcher: WarninglistMatcher) -> None:
    """Record, per value of each object, the warninglists it hits (one pass for the batch)."""
    hits = matcher.match_many([value for p in prepared for value in p.values])
    position = 0
    for p in prepared:
        found = hits[position : position + len(p.values)]
        position += len(p.values)
        if any(found):
            p.warninglists = tuple(",".join(names) or None for names in found)


def import_stix(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    inputs: list[Input],
    source: str,
    warninglists: WarninglistMatcher | None = None,
    progress: Progress | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    import_id: str | None = None,
) -> ImportReport:
    """Import STIX 2.1 (or 2.0) bundles from ``inputs``; the report says what happened."""
    return run_import(
        database,
        clock=clock,
        actor=actor,
        source=source,
        format="stix",
        reader=stix_reader(inputs, max_bytes=max_bytes),
        warninglists=warninglists,
        progress=progress,
        import_id=import_id,
    )


def run_import(
    database: Database,
    *,
    clock: Clock,
    actor: str,
    source: str,
    format: str,
    reader: Reader,
    warninglists: WarninglistMatcher | None = None,
    progress: Progress | None = None,
    import_id: str | None = None,
) -> ImportReport:
    """Store the STIX objects ``reader`` yields, in batches; every importer ends here.

    Values that hit ``warninglists`` (default: the shipped set) are stored flagged with the
    lists' names, so matching and exports leave them out and analysts see why. An
    ``import_id`` chosen beforehand lets a caller name the run before it starts (the API
    answers with it while the import runs in the background).
    """
    matcher = warninglists or WarninglistMatcher(default_warninglists())
    report = ImportReport(id=import_id or new_id(), source=source, format=format)
    started = time.perf_counter()
    with database.transaction() as session:
        # A run named beforehand (the API records it when it accepts a bundle) is adopted.
        if session.get(ImportRun, report.id) is None:
            session.add(
                ImportRun(
                    id=report.id,
                    source=source,
                    format=format,
                    actor=actor,
                    started_at=clock.now(),
                    status="running",
                    counts=report.counts,
                    rejects=[],
                )
            )
    items = reader(report.reject)
    markings = stored_tlp_markings(database)
    done = 0
    while batch := first(items, BATCH):
        markings.update(tlp_markings(obj for _, _, obj in batch))
        prepared: list[Prepared] = []
        places: list[tuple[str, int]] = []
        for name, index, obj in batch:
            try:
                prepared.append(identify(obj, markings=markings))
                places.append((name, index))
            except WatchkeeperError as exc:
                identifier = obj.get("id") if isinstance(obj, dict) else None
                report.reject(
                    Reject(
                        name,
                        index,
                        identifier if isinstance(identifier, str) else None,
                        exc.message,
                    )
                )
        with database.transaction() as session:
            outcome = store_batch(
                session,
                batch=prepared,
                import_id=report.id,
                clock=clock,
                on_new=lambda new: flag_warninglisted(new, matcher),
            )
            report.warninglisted += outcome.warninglisted
            report.created += outcome.created
            report.updated += outcome.updated
            report.unchanged += outcome.unchanged
            for position, identifier, reason in outcome.rejects:
                name, index = places[position]
                report.reject(Reject(name, index, identifier, reason))
            run = session.get_one(ImportRun, report.id)
            run.counts = report.counts
        done += len(batch)
        if progress is not None:
            progress(done)
    report.seconds = time.perf_counter() - started
    report.status = "done"
    with database.transaction() as session:
        run = session.get_one(ImportRun, report.id)
        run.status, run.finished_at = report.status, clock.now()
        run.counts = report.counts
        run.rejects = [r.document() for r in report.rejects]
        record_change(
            session,
            clock=clock,
            actor=actor,
            action="intel.import",
            subject=f"import:{report.id}",
            detail={"source": source, "format": format, **report.counts},
        )
    return report
