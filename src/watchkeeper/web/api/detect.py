"""Detection over the API: alerts (list, filter, open one, acknowledge or close, escalate to a
case) and the recent detection runs.

Staff only: partner nodes never see alerts, which name hosts and organisations of the
constituency. TLP:RED alerts are kept from anyone but staff (``max_tlp_for``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from watchkeeper.detect.alert_views import (
    MAX_ESCALATED,
    MAX_LIMIT,
    MAX_REASON,
    MAX_RUNS,
    MAX_TITLE,
    alert_counts,
    alert_view,
    escalate_alert,
    list_alerts,
    list_runs,
    max_tlp_for,
    set_alert_status,
)
from watchkeeper.intel import ScoringPolicy
from watchkeeper.security import Principal
from watchkeeper.web.deps import NodeDep, require

router = APIRouter(prefix="/detect", tags=["detect"])
READERS = ("admin", "analyst", "responder", "poc-officer")
CHANGERS = ("admin", "analyst", "responder")
Reader = Annotated[Principal, Depends(require(*READERS))]
Changer = Annotated[Principal, Depends(require(*CHANGERS))]


class StatusIn(BaseModel):
    """The new status of an alert (new, acknowledged, closed) and why."""

    status: str = Field(min_length=1, max_length=20)
    reason: str | None = Field(None, max_length=MAX_REASON)


class EscalateIn(BaseModel):
    """The alerts a case is asked for, and the case's title (default: from the alerts)."""

    alert_ids: list[Annotated[str, Field(min_length=1, max_length=36)]] = Field(
        min_length=1, max_length=MAX_ESCALATED
    )
    title: str | None = Field(None, max_length=MAX_TITLE)


@router.get("/alerts")
def detect_alerts(
    node: NodeDep,
    principal: Reader,
    status: Annotated[list[str] | None, Query(max_length=10)] = None,
    kind: Annotated[list[str] | None, Query(max_length=10)] = None,
    severity: Annotated[list[str] | None, Query(max_length=10)] = None,
    host: str | None = Query(None, min_length=1, max_length=300),
    organization: str | None = Query(None, min_length=1, max_length=200),
    indicator_id: str | None = Query(None, min_length=1, max_length=300),
    rule_id: str | None = Query(None, min_length=1, max_length=200),
    retro: bool | None = Query(None, description="Only alerts of retro-hunts (or none of them)."),
    since: datetime | None = Query(None, description="Last seen at or after this."),
    until: datetime | None = Query(None, description="Last seen before this."),
    q: str | None = Query(None, min_length=1, max_length=500, description="Title, value, host."),
    cursor: str | None = Query(None, max_length=200, description="The `next` of the last page."),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """A page of alerts, most recently seen first, and the cursor of the next page."""
    with node.database.reader() as session:
        return list_alerts(
            session,
            status=status,
            kind=kind,
            severity=severity,
            host=host,
            organization=organization,
            indicator_id=indicator_id,
            rule_id=rule_id,
            retro=retro,
            since=since,
            until=until,
            q=q,
            cursor=cursor,
            limit=limit,
            max_tlp=max_tlp_for(principal),
        )


@router.get("/alerts/counts")
def detect_alert_counts(node: NodeDep, principal: Reader) -> dict[str, dict[str, int]]:
    """Alerts by status, and open alerts by severity."""
    with node.database.reader() as session:
        return alert_counts(session, max_tlp=max_tlp_for(principal))


@router.get("/alerts/{alert_id}")
def detect_alert(node: NodeDep, principal: Reader, alert_id: str) -> dict[str, Any]:
    """One alert: its matched lines with their events, and the indicator or rule that fired."""
    with node.database.reader() as session:
        return alert_view(
            session,
            alert_id=alert_id,
            policy=ScoringPolicy.from_settings(node.settings),
            now=node.clock.now(),
            max_tlp=max_tlp_for(principal),
        )


@router.post("/alerts/escalate", status_code=202)
def detect_escalate(node: NodeDep, principal: Changer, body: EscalateIn) -> JSONResponse:
    """Ask for a case over the alerts (they become ``escalated``); the response area opens it
    from the ``detect.alert.escalate`` event whose ``seq`` is returned."""
    with node.database.transaction() as session:
        done = escalate_alert(
            session,
            clock=node.clock,
            actor=principal.actor,
            alert_ids=body.alert_ids,
            title=body.title,
            max_tlp=max_tlp_for(principal),
        )
    return JSONResponse(done, status_code=202)


@router.post("/alerts/{alert_id}/status")
def detect_alert_status(
    node: NodeDep, principal: Changer, alert_id: str, body: StatusIn
) -> dict[str, Any]:
    """Acknowledge, close or reopen an alert (audited as ``detect.alert.status``)."""
    with node.database.transaction() as session:
        return set_alert_status(
            session,
            clock=node.clock,
            actor=principal.actor,
            alert_id=alert_id,
            status=body.status,
            reason=body.reason,
            max_tlp=max_tlp_for(principal),
        )


@router.get("/runs")
def detect_runs(
    node: NodeDep, principal: Reader, limit: int = Query(50, ge=1, le=MAX_RUNS)
) -> list[dict[str, Any]]:
    """The most recent detection runs with their counts and first malformed lines."""
    with node.database.reader() as session:
        return list_runs(session, limit=limit)
