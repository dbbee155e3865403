"""How cases hang together: parent/child trees, campaigns, and the alerts merged into a case.

A parent link may never close a loop (a case cannot be its own ancestor); the check walks up
from the new parent, a handful of rows in practice. Campaigns are named and created on first
use, so "link to campaign Ghostwriter" works the same for the first case as for the tenth.

Merging alerts (one or many, in one call: TheHive cannot bulk-merge) sets each alert's
``case_id`` and status ``escalated``, records the link, adds the indicator value and the host
of each alert as observables, and raises the case's TLP to its strictest alert's, so that a
TLP:RED alert never becomes readable through a greener case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, new_id
from watchkeeper.core.tlp import parse_tlp
from watchkeeper.detect.models import Alert
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.respond.case_observables import attach, host_observable
from watchkeeper.respond.case_records import (
    MAX_NAME,
    MAX_TEXT,
    audit,
    case_document,
    find_case,
    require_open,
    text,
)
from watchkeeper.respond.models import Case, CaseAlert, CaseCampaign

MAX_MERGED = 500
MAX_DEPTH = 1000


def campaign_named(
    session: Session, *, clock: Clock, actor: str, name: str, description: str = ""
) -> tuple[CaseCampaign, bool]:
    """The campaign called ``name``, created if new: (campaign, created)."""
    cleaned = text(name, field="campaign", limit=MAX_NAME, required=True)
    found = session.scalars(select(CaseCampaign).where(CaseCampaign.name == cleaned)).first()
    if found is not None:
        return found, False
    campaign = CaseCampaign(
        id=new_id(),
        name=cleaned,
        description=text(description, field="description", limit=MAX_TEXT),
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(campaign)
    session.flush()
    return campaign, True


def _check_parent(session: Session, *, case: Case, parent: Case) -> None:
    """Refuse a parent that is the case itself or one of its descendants."""
    current: Case | None = parent
    for _ in range(MAX_DEPTH):
        if current is None:
            return
        if current.id == case.id:
            raise InvalidInput(
                f"case {parent.number} cannot be the parent of {case.number}: "
                "it is that case or one of its children (a cycle)",
                field="parent_id",
            )
        current = session.get(Case, current.parent_id) if current.parent_id else None
    raise InvalidInput("case tree deeper than allowed", field="parent_id")


def link_cases(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    case_id: str,
    parent_id: str | None = None,
    campaign: str | None = None,
    unlink_parent: bool = False,
    unlink_campaign: bool = False,
) -> dict[str, Any]:
    """Set a case's parent (no cycles) and/or its campaign (by name, created on first use);
    ``unlink_*`` removes them. Audited ``case.link``."""
    if not (parent_id or campaign or unlink_parent or unlink_campaign):
        raise InvalidInput("give a parent case or a campaign", field="parent_id")
    case = find_case(session, case_id=case_id)
    detail: dict[str, Any] = {}
    if unlink_parent:
        detail["parent"] = [case.parent_id, None]
        case.parent_id = None
    elif parent_id:
        try:
            parent = find_case(session, case_id=parent_id)
        except NotFound:
            raise NotFound(f"no parent case {parent_id[:40]!r}", field="parent_id") from None
        _check_parent(session, case=case, parent=parent)
        detail["parent"] = [case.parent_id, parent.id]
        detail["parent_number"] = parent.number
        case.parent_id = parent.id
    name = None
    if unlink_campaign:
        detail["campaign"] = [case.campaign_id, None]
        case.campaign_id = None
    elif campaign:
        found, created = campaign_named(session, clock=clock, actor=actor, name=campaign)
        detail["campaign"] = [case.campaign_id, found.id]
        detail["campaign_name"] = found.name
        detail["campaign_created"] = created
        case.campaign_id = found.id
        name = found.name
    audit(session, clock=clock, actor=actor, action="case.link", case=case, detail=detail)
    if name is None and case.campaign_id:
        name = session.get_one(CaseCampaign, case.campaign_id).name
    return case_document(case, campaign=name)


def _stricter_tlp(case: Case, alerts: Sequence[Alert]) -> str:
    level = parse_tlp(case.tlp)
    for alert in alerts:
        if alert.tlp:
            try:
                level = max(level, parse_tlp(alert.tlp))
            except InvalidInput:
                level = max(level, parse_tlp("red"))  # unreadable marking: the strictest
    return level.value


def merge_into(
    session: Session, *, clock: Clock, actor: str, case: Case, alert_ids: Sequence[str]
) -> dict[str, Any]:
    """Link alerts to ``case`` (see the module docstring); unaudited, the caller audits."""
    wanted = list(dict.fromkeys(i.strip()[:36] for i in alert_ids if i and i.strip()))
    if not wanted:
        raise InvalidInput("give at least one alert id", field="alert_ids")
    if len(wanted) > MAX_MERGED:
        raise InvalidInput(f"at most {MAX_MERGED} alerts at once", field="alert_ids")
    found = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(wanted)))}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(f"no alert {', '.join(missing[:5])}", field="alert_ids", missing=missing)
    elsewhere = [a for a in found.values() if a.case_id and a.case_id != case.id]
    if elsewhere:
        raise Conflict(
            "already in another case: "
            + ", ".join(f"alert {a.id} (case {a.case_id})" for a in elsewhere[:5]),
            field="alert_ids",
            linked={a.id: a.case_id for a in elsewhere},
        )
    now = clock.now()
    linked = set(
        session.scalars(
            select(CaseAlert.alert_id).where(
                CaseAlert.case_id == case.id, CaseAlert.alert_id.in_(wanted)
            )
        )
    )
    merged, observables = [], []
    for alert_id in wanted:
        alert = found[alert_id]
        if alert_id not in linked:
            session.add(
                CaseAlert(case_id=case.id, alert_id=alert_id, linked_by=actor, linked_at=now)
            )
            merged.append(alert_id)
        if alert.case_id != case.id or alert.status != "escalated":
            alert.case_id = case.id
            alert.status = "escalated"
            alert.updated_at = now
        pairs: list[tuple[str, str, bool]] = []
        if alert.value and alert.value_kind:
            pairs.append((alert.value_kind, alert.value, alert.kind == "indicator"))
        host = host_observable(alert.host)
        if host is not None:
            pairs.append((host[0], host[1], False))
        for kind, value, ioc in pairs:
            try:
                observable, created = attach(
                    session,
                    case=case,
                    actor=actor,
                    now=now,
                    kind=kind,
                    value=value,
                    ioc=ioc,
                    tlp=alert.tlp,
                    note=f"from alert {alert.id}",
                )
            except InvalidInput:
                continue  # a value intel would not hold (odd host name): the alert keeps it
            if created:
                observables.append({"kind": observable.kind, "value": observable.value})
    before = case.tlp
    case.tlp = _stricter_tlp(case, list(found.values()))
    session.flush()
    return {
        "merged": merged,
        "already": [i for i in wanted if i not in merged],
        "observables": observables,
        "tlp_raised": [before, case.tlp] if before != case.tlp else None,
    }


def merge_alerts(
    session: Session, *, clock: Clock, actor: str, case_id: str, alert_ids: Sequence[str]
) -> dict[str, Any]:
    """Merge one or many alerts into an open case (audited ``case.merge``).

    Alerts already in this case are left as they are (a retry changes nothing); an alert in
    another case is a ``Conflict`` naming it, and nothing is merged.
    """
    case = find_case(session, case_id=case_id)
    require_open(case, doing="merging alerts")
    done = merge_into(session, clock=clock, actor=actor, case=case, alert_ids=alert_ids)
    if done["merged"] or done["observables"]:
        audit(
            session,
            clock=clock,
            actor=actor,
            action="case.merge",
            case=case,
            detail={
                "alerts": done["merged"],
                "observables": done["observables"],
                "tlp_raised": done["tlp_raised"],
            },
        )
    return {"case": case_document(case), **done}
