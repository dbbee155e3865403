"""Threat intelligence over the API: look-ups, counts, scores, sightings, false positives,
object queries and bundle imports run in the background."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from watchkeeper.core import new_id
from watchkeeper.core.tlp import parse_tlp
from watchkeeper.errors import NotFound, WatchkeeperError
from watchkeeper.intel import (
    MAX_LIMIT,
    ImportRun,
    Input,
    ScoringPolicy,
    explain_score,
    import_stix,
    intel_stats,
    lookup,
    object_view,
    query_objects,
    record_sighting,
    report_false_positive,
    resolve,
)
from watchkeeper.node import Node
from watchkeeper.security import Principal
from watchkeeper.web.deps import NodeDep, require

router = APIRouter(prefix="/intel", tags=["intel"])
Reader = Annotated[
    Principal,
    Depends(require("admin", "analyst", "responder", "poc-officer", "central-authority")),
]
Reporter = Annotated[Principal, Depends(require("admin", "analyst", "responder"))]


class SightingIn(BaseModel):
    """A sighting of an indicator id or of every current indicator matching a value."""

    target: str = Field(min_length=1, max_length=4096, description="Indicator id or value.")
    count: int = Field(1, ge=1, le=1_000_000_000)
    seen_at: datetime | None = None
    where: str | None = Field(None, max_length=1000)


class FalsePositiveIn(BaseModel):
    """A false-positive report on an indicator id or on the indicators matching a value."""

    target: str = Field(min_length=1, max_length=4096, description="Indicator id or value.")
    reason: str = Field(min_length=1, max_length=4000)


@router.get("/lookup")
def intel_lookup(
    node: NodeDep,
    principal: Reader,
    value: str = Query(min_length=1, max_length=4096, description="IP, CIDR, domain, URL..."),
) -> list[dict[str, Any]]:
    """Every stored object carrying the value, its parent domains or enclosing networks."""
    with node.database.reader() as session:
        return lookup(
            session,
            value=value,
            policy=ScoringPolicy.from_settings(node.settings),
            now=node.clock.now(),
            common_threshold=node.settings.intel_common_threshold,
        )


@router.get("/objects/{stix_id}")
def intel_object(node: NodeDep, principal: Reader, stix_id: str) -> dict[str, Any]:
    """One object: its versions, newest document, values, provenance, score, correlations."""
    with node.database.reader() as session:
        return object_view(
            session,
            stix_id=stix_id,
            policy=ScoringPolicy.from_settings(node.settings),
            now=node.clock.now(),
            common_threshold=node.settings.intel_common_threshold,
        )


@router.get("/stats")
def intel_counts(node: NodeDep, principal: Reader) -> dict[str, Any]:
    """Objects by type, indexed values by kind, live/expired/decayed indicators."""
    with node.database.reader() as session:
        return intel_stats(
            session, policy=ScoringPolicy.from_settings(node.settings), now=node.clock.now()
        )


@router.get("/score")
def intel_score(
    node: NodeDep,
    principal: Reader,
    value: str = Query(min_length=1, max_length=4096, description="Indicator id or value."),
) -> list[dict[str, Any]]:
    """The score of each indicator meant, with every step of its computation."""
    with node.database.reader() as session:
        return explain_score(
            session,
            target=value,
            policy=ScoringPolicy.from_settings(node.settings),
            now=node.clock.now(),
        )


@router.post("/sightings", status_code=201)
def intel_sighting(node: NodeDep, principal: Reporter, body: SightingIn) -> dict[str, Any]:
    """Record a sighting (stored as a STIX sighting, audited as ``intel.sighting``)."""
    indicator_id, value = resolve(body.target)
    return record_sighting(
        node.database,
        clock=node.clock,
        actor=principal.actor,
        indicator_id=indicator_id,
        value=value,
        count=body.count,
        seen_at=body.seen_at,
        where=body.where,
    ).document()


@router.post("/false-positives", status_code=201)
def intel_false_positive(
    node: NodeDep, principal: Reporter, body: FalsePositiveIn
) -> dict[str, Any]:
    """Report a false positive (a STIX opinion, audited as ``intel.false_positive``)."""
    indicator_id, value = resolve(body.target)
    return report_false_positive(
        node.database,
        clock=node.clock,
        actor=principal.actor,
        indicator_id=indicator_id,
        value=value,
        reason=body.reason,
    ).document()


# --- Querying current objects, and bundle imports run in the background --------------------

Importer = Annotated[Principal, Depends(require("admin", "analyst"))]
# A bundle larger than this is refused before it is spooled; larger ones go through the CLI.
MAX_BUNDLE_BYTES = 256 * 1024**2
BUNDLE_MEDIA_TYPES = frozenset({"application/json", "application/stix+json"})
SHOWN_REJECTS = 20
RECENT_IMPORTS = 50
log = logging.getLogger(__name__)


@router.get("/objects")
def intel_objects(
    node: NodeDep,
    principal: Reader,
    type: Annotated[list[str] | None, Query(max_length=100)] = None,
    value: str | None = Query(None, min_length=1, max_length=4096),
    label: str | None = Query(None, min_length=1, max_length=250),
    tlp_max: str = Query("amber", max_length=20, description="Most restrictive level served."),
    since: datetime | None = Query(None, description="Objects modified at or after this."),
    after: int | None = Query(None, ge=0, description="The `next` of the previous page."),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
) -> Response:
    """A page of current objects; their stored JSON is spliced in, never re-serialised."""
    with node.database.reader() as session:
        docs, cursor = query_objects(
            session,
            types=type,
            value=value,
            label=label,
            tlp_max=parse_tlp(tlp_max),
            since=since,
            after=after,
            limit=limit,
        )
    body = '{"objects":[' + ",".join(docs) + '],"next":' + orjson.dumps(cursor).decode() + "}"
    return Response(body, media_type="application/json")


def _record_run(node: Node, *, import_id: str, actor: str, source: str) -> None:
    """Record the accepted import as running, so its status answers from any process."""
    with node.database.transaction() as session:
        session.add(
            ImportRun(
                id=import_id,
                source=source,
                format="stix",
                actor=actor,
                started_at=node.clock.now(),
                status="running",
                counts={},
                rejects=[],
            )
        )


async def _spool(request: Request, path: Path) -> None:
    """Stream the body to ``path``, refusing (413) past :data:`MAX_BUNDLE_BYTES`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BUNDLE_BYTES:
        raise HTTPException(413, f"bundle larger than {MAX_BUNDLE_BYTES} bytes")
    size = 0
    async with await anyio.open_file(path, "wb") as spool:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BUNDLE_BYTES:
                raise HTTPException(413, f"bundle larger than {MAX_BUNDLE_BYTES} bytes")
            await spool.write(chunk)


def _mark_failed(node: Node, import_id: str, *, actor: str, source: str, error: str) -> None:
    """End the run as failed, keeping what landed; creates the row if the run never started."""
    with node.database.transaction() as session:
        run = session.get(ImportRun, import_id)
        if run is None:
            run = ImportRun(
                id=import_id,
                source=source,
                format="stix",
                actor=actor,
                started_at=node.clock.now(),
                counts={},
                rejects=[],
            )
            session.add(run)
        run.status, run.finished_at = "failed", node.clock.now()
        if not any(r.get("index") is None for r in run.rejects):
            whole = {"file": "body", "index": None, "id": None, "reason": error}
            run.rejects = [whole, *run.rejects]


def _import_bundle(node: Node, *, import_id: str, actor: str, source: str, path: Path) -> None:
    """The background half of ``POST /imports``; a bundle that cannot be read fails the run."""
    try:
        report = import_stix(
            node.database,
            clock=node.clock,
            actor=actor,
            inputs=[Input("body", path)],
            source=source,
            max_bytes=MAX_BUNDLE_BYTES,
            import_id=import_id,
        )
        unreadable = next((r.reason for r in report.rejects if r.index is None), None)
        if unreadable is not None:
            _mark_failed(node, import_id, actor=actor, source=source, error=unreadable)
    except WatchkeeperError as exc:
        _mark_failed(node, import_id, actor=actor, source=source, error=exc.message)
    except Exception:
        log.exception("bundle import %s failed", import_id)
        error = "unexpected error; it has been logged"
        _mark_failed(node, import_id, actor=actor, source=source, error=error)
    finally:
        path.unlink(missing_ok=True)


@router.post("/imports", status_code=202)
async def intel_import(
    request: Request,
    node: NodeDep,
    principal: Importer,
    background: BackgroundTasks,
    source: str = Query("api", min_length=1, max_length=200),
) -> JSONResponse:
    """Accept a STIX bundle, spool it, and import it in the background (poll the Location)."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in BUNDLE_MEDIA_TYPES:
        raise HTTPException(415, "send the bundle as application/json or application/stix+json")
    import_id = new_id()
    spool = node.data_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / f"{import_id}.json"
    try:
        await _spool(request, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    await run_in_threadpool(
        _record_run, node, import_id=import_id, actor=principal.actor, source=source
    )
    background.add_task(
        _import_bundle,
        node,
        import_id=import_id,
        actor=principal.actor,
        source=source,
        path=path,
    )
    location = f"/api/v1/intel/imports/{import_id}"
    return JSONResponse(
        {"id": import_id, "status": "running", "location": location},
        status_code=202,
        headers={"Location": location},
    )


def _run_document(run: ImportRun) -> dict[str, Any]:
    failed = run.status == "failed"
    return {
        "id": run.id,
        "source": run.source,
        "format": run.format,
        "actor": run.actor,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "counts": run.counts,
        "error": next((r["reason"] for r in run.rejects if r.get("index") is None), None)
        if failed
        else None,
        "rejects": run.rejects[:SHOWN_REJECTS],
    }


@router.get("/imports")
def intel_imports(node: NodeDep, principal: Reader) -> list[dict[str, Any]]:
    """The most recent import runs, newest first."""
    with node.database.reader() as session:
        runs = session.scalars(
            select(ImportRun).order_by(ImportRun.started_at.desc()).limit(RECENT_IMPORTS)
        )
        return [_run_document(run) for run in runs]


@router.get("/imports/{import_id}")
def intel_import_status(node: NodeDep, principal: Reader, import_id: str) -> dict[str, Any]:
    """Where an import stands: running, done or failed, its counts and first rejects."""
    with node.database.reader() as session:
        run = session.get(ImportRun, import_id)
        if run is not None:
            return _run_document(run)
    raise NotFound(f"no import {import_id}", import_id=import_id)
