"""Threat intelligence over the API: look-ups and counts (staff who work with intelligence)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from watchkeeper.intel import intel_stats, lookup
from watchkeeper.security import Principal
from watchkeeper.web.deps import NodeDep, require

router = APIRouter(prefix="/intel", tags=["intel"])
Reader = Annotated[
    Principal,
    Depends(require("admin", "analyst", "responder", "poc-officer", "central-authority")),
]


@router.get("/lookup")
def intel_lookup(
    node: NodeDep,
    principal: Reader,
    value: str = Query(min_length=1, max_length=4096, description="IP, CIDR, domain, URL..."),
) -> list[dict[str, Any]]:
    """Every stored object carrying the value, its parent domains or enclosing networks."""
    with node.database.reader() as session:
        return lookup(session, value=value)


@router.get("/stats")
def intel_counts(node: NodeDep, principal: Reader) -> dict[str, Any]:
    """Objects by type and indexed values by kind."""
    with node.database.reader() as session:
        return intel_stats(session)
