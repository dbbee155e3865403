"""TAXII add-objects requests and their status resources.

A POST of an envelope is answered at once with a status resource (``pending``, every object
listed in ``pendings``); a job then stores the objects and completes the status with a
success or a failure (``{id, version, message}``) per object. Objects from a peer are a
delivery of that peer (:func:`~.receipts.receive`, with the API root's community as the scope
they arrived in); objects from this node's staff are one of its own sources
(:data:`STAFF_SOURCE`). Bad objects are failures; the others land. A collection that holds
only some types takes only those types: an object of another type is a failure, since it
would never be readable from the collection it was added to.

Only the account that made the request may read its status.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, stix_time
from watchkeeper.errors import InvalidInput, NotFound, WatchkeeperError
from watchkeeper.federation.collections import collection_filters
from watchkeeper.federation.models import Collection, TaxiiStatus
from watchkeeper.federation.receipts import receive
from watchkeeper.federation.taxii_access import Caller
from watchkeeper.federation.taxii_filters import stix_timestamp, version_of
from watchkeeper.intel import (
    ImportReport,
    Item,
    Provenance,
    Reader,
    Reject,
    StixObject,
    run_import,
)
from watchkeeper.security import record_change
from watchkeeper.store import Database

STAFF_SOURCE = "local:taxii"
"""Provenance source of what this node's own staff add through TAXII."""
SYNC_LIMIT = 500
"""Envelopes of at most this many objects are stored before the answer (status complete);
larger ones in the background (status pending until done)."""
ENVELOPE = "envelope"
log = logging.getLogger(__name__)


def _sent_version(obj: Any, fallback: str) -> tuple[str, str]:
    """(id, version) of an object as sent; the request time when it has no version."""
    if not isinstance(obj, dict):
        return "", fallback
    identifier = obj.get("id")
    for name in ("modified", "created"):
        value = obj.get(name)
        if isinstance(value, str):
            try:
                return str(identifier or ""), stix_timestamp(value, field=name)
            except InvalidInput:
                return str(identifier or ""), value
    return str(identifier or ""), fallback


def _stored_key(obj: dict[str, Any]) -> tuple[str, str] | None:
    """The (id, modified) the store gives an accepted object (``modified``, else ``created``,
    else empty for an unversioned object), or None if it cannot have been accepted."""
    for name in ("modified", "created"):
        if name in obj:
            try:
                return str(obj.get("id")), stix_timestamp(str(obj[name]), field=name)
            except InvalidInput:
                return None
    return str(obj.get("id")), ""


def open_status(
    session: Session,
    *,
    clock: Clock,
    caller: Caller,
    community: str,
    collection: Collection,
    objects: Sequence[Any],
) -> TaxiiStatus:
    """Record a new add-objects request, every object pending; audited as ``taxii.add``."""
    requested = stix_time(clock.now())
    pendings = []
    for obj in objects:
        identifier, version = _sent_version(obj, requested)
        pendings.append({"id": identifier, "version": version})
    status = TaxiiStatus(
        id=str(uuid.uuid4()),
        community=community,
        collection_id=collection.id,
        requester=caller.name,
        import_id=None,
        status="pending",
        request_timestamp=requested,
        total_count=len(objects),
        success_count=0,
        failure_count=0,
        pending_count=len(objects),
        successes=[],
        failures=[],
        pendings=pendings,
    )
    session.add(status)
    session.flush()
    record_change(
        session,
        clock=clock,
        actor=caller.actor,
        action="taxii.add",
        subject=f"collection:{collection.id}",
        detail={"status": status.id, "community": community, "objects": len(objects)},
    )
    return status


def _reader(objects: Sequence[Any], types: tuple[str, ...]) -> Reader:
    def read(reject: Callable[[Reject], None]) -> Iterator[Item]:
        for index, obj in enumerate(objects):
            kind = obj.get("type") if isinstance(obj, dict) else None
            if types and isinstance(kind, str) and kind not in types:
                identifier = obj.get("id")
                reject(
                    Reject(
                        ENVELOPE,
                        index,
                        identifier if isinstance(identifier, str) else None,
                        f"type {kind!r} is not held by this collection "
                        f"(it holds {', '.join(types)})",
                    )
                )
                continue
            yield ENVELOPE, index, obj

    return read


def _landed(database: Database, import_id: str) -> dict[tuple[str, str], str]:
    """(id, modified) -> date_added of every version the import stored or found stored."""
    o, p = StixObject, Provenance
    with database.reader() as session:
        rows = session.execute(
            select(o.id, o.modified, o.added_at)
            .join(p, p.object_seq == o.seq)
            .where(p.import_id == import_id)
        )
        return {(identifier, modified): added for identifier, modified, added in rows}


def _outcome(
    database: Database, report: ImportReport, objects: Sequence[Any], requested: str
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    reasons = {r.index: r.reason for r in report.rejects if r.index is not None}
    landed = _landed(database, report.id)
    successes: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []
    for index, obj in enumerate(objects):
        identifier, sent = _sent_version(obj, requested)
        key = _stored_key(obj) if isinstance(obj, dict) else None
        added = landed.get(key) if key is not None and index not in reasons else None
        if key is not None and added is not None:
            successes.append({"id": identifier, "version": version_of(key[1], added)})
        else:
            # Reasons beyond the first ones an import keeps are counted, not kept.
            reason = reasons.get(index, "not stored (rejected; the reason was not kept)")
            failures.append({"id": identifier, "version": sent, "message": reason})
    return successes, failures


def store_objects(
    database: Database,
    *,
    clock: Clock,
    status_id: str,
    caller: Caller,
    objects: Sequence[Any],
) -> None:
    """The job of an add-objects request: store ``objects`` and complete its status.

    Never raises: an unexpected failure is logged and reported as a failure of every object.
    """
    with database.reader() as session:
        status = session.get(TaxiiStatus, status_id)
        if status is None:
            log.error("TAXII add-objects request %s has no status to complete", status_id)
            return
        collection = session.get(Collection, status.collection_id)
        types = collection_filters(collection).types if collection is not None else ()
        community, requested = status.community, status.request_timestamp
    import_id: str | None = None
    successes: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []
    try:
        reader = _reader(objects, types)
        if not objects:
            report = None  # nothing to store: no import, the status completes empty
        elif caller.peer is not None:
            report = receive(
                database,
                clock=clock,
                actor=caller.actor,
                peer=caller.peer,
                reader=reader,
                scope=community,
            )
        else:
            report = run_import(
                database,
                clock=clock,
                actor=caller.actor,
                source=STAFF_SOURCE,
                format="stix",
                reader=reader,
            )
        if report is not None:
            import_id = report.id
            successes, failures = _outcome(database, report, objects, requested)
    except WatchkeeperError as exc:
        failures = _all_failed(objects, requested, exc.message)
    except Exception:
        log.exception("TAXII add-objects request %s failed", status_id)
        failures = _all_failed(objects, requested, "not stored: unexpected error (logged)")
    with database.transaction() as session:
        row = session.get_one(TaxiiStatus, status_id)
        row.import_id = import_id
        row.status = "complete"
        row.successes, row.success_count = successes, len(successes)
        row.failures, row.failure_count = failures, len(failures)
        row.pendings, row.pending_count = [], 0


def _all_failed(objects: Sequence[Any], requested: str, message: str) -> list[dict[str, str]]:
    failed = []
    for obj in objects:
        identifier, version = _sent_version(obj, requested)
        failed.append({"id": identifier, "version": version, "message": message})
    return failed


def find_status(session: Session, *, caller: Caller, community: str, status_id: str) -> TaxiiStatus:
    """The status ``status_id`` of API root ``community`` if ``caller`` made the request;
    ``NotFound`` otherwise (another account's requests do not exist for it)."""
    status = session.get(TaxiiStatus, status_id.strip().lower())
    if status is None or status.requester != caller.name or status.community != community:
        raise NotFound(f"no status {status_id!r} in API root {community}", status=status_id)
    return status


def status_resource(status: TaxiiStatus) -> dict[str, Any]:
    """The TAXII status resource (detail lists only when they hold something)."""
    resource: dict[str, Any] = {
        "id": status.id,
        "status": status.status,
        "request_timestamp": status.request_timestamp,
        "total_count": status.total_count,
        "success_count": status.success_count,
        "failure_count": status.failure_count,
        "pending_count": status.pending_count,
    }
    for name in ("successes", "failures", "pendings"):
        details = getattr(status, name)
        if details:
            resource[name] = details
    return resource
