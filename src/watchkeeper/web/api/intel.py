"""Threat intelligence over the API: look-ups, counts, scores, sightings and false positives."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from watchkeeper.intel import intel_stats, lookup
from watchkeeper.intel.lookup import explain_score
from watchkeeper.intel.scoring import ScoringPolicy
from watchkeeper.intel.sightings import record_sighting, report_false_positive, resolve
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
