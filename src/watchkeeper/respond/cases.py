"""Cases: open one (from a template, with alerts), change it, move it through its statuses,
close it with a disposition, list them and show one with its automatic timeline.

Keyword-only functions over a session the caller commits, called alike by the API, the UI,
the CLI, the escalation subscriber and playbook actions. Each change is audited through
``record_change`` (``case.open``, ``case.update``, ``case.assign``, ``case.status``,
``case.close``; tasks, notes, observables, links and merges in their own modules, exported
here too).

Statuses run new -> triage -> investigating -> contained -> eradicated -> recovered. A case
may move forward by any number of steps (containment cannot wait for triage paperwork) and
back only to investigating (new findings). ``closed`` is reached only through
:func:`close_case`, which needs a disposition and a reason; a closed case reopens to
investigating. Closing as false-positive reports every indicator behind the case's indicator
alerts as a false positive in the same transaction, which lowers their scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, new_id
from watchkeeper.core.tlp import Tlp, parse_pap
from watchkeeper.detect.alert_views import alert_document
from watchkeeper.detect.models import Alert
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.intel.sightings import write_false_positive
from watchkeeper.respond.case_links import campaign_named, link_cases, merge_alerts, merge_into
from watchkeeper.respond.case_observables import add_observable, intel_for
from watchkeeper.respond.case_records import (
    MAX_TEXT,
    MAX_TITLE,
    audit,
    case_document,
    choice,
    find_case,
    note_document,
    observable_document,
    task_document,
    text_condition,
    tlp_condition,
    tlp_value,
    visible,
)
from watchkeeper.respond.case_records import text as clean_text
from watchkeeper.respond.case_tasks import add_note, add_task, create_task, known_user, update_task
from watchkeeper.respond.case_templates import get_template, load_templates
from watchkeeper.respond.case_timeline import case_timeline
from watchkeeper.respond.models import (
    DISPOSITIONS,
    OPEN_STATUSES,
    SEVERITIES,
    STATUSES,
    Case,
    CaseAlert,
    CaseCampaign,
    CaseNote,
    CaseObservable,
    CaseTask,
)
from watchkeeper.store import serialize

__all__ = [
    "DISPOSITIONS",
    "SEVERITIES",
    "STATUSES",
    "add_note",
    "add_observable",
    "add_task",
    "allowed_statuses",
    "assign_case",
    "case_counts",
    "case_view",
    "close_case",
    "find_case",
    "link_cases",
    "list_cases",
    "load_templates",
    "merge_alerts",
    "open_case",
    "set_status",
    "update_case",
    "update_task",
]

NUMBER_LOCK = "watchkeeper.case-numbers"
MAX_LIMIT = 500
MAX_INTEL_LOOKUPS = 100
MAX_REASON = 4000


def _next_number(session: Session, *, year: int) -> str:
    """``C-<year>-<serial>``: one more than the year's highest (longest, then greatest)."""
    serialize(session, NUMBER_LOCK)
    prefix = f"C-{year}-"
    last = session.scalar(
        select(Case.number)
        .where(Case.number.startswith(prefix))
        .order_by(func.length(Case.number).desc(), Case.number.desc())
        .limit(1)
    )
    serial = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{serial:04d}"


def _campaign_name(session: Session, case: Case) -> str | None:
    if not case.campaign_id:
        return None
    campaign = session.get(CaseCampaign, case.campaign_id)
    return campaign.name if campaign else None


def open_case(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    title: str,
    severity: str | None,
    tlp: str | None,
    description: str = "",
    template: str | None = None,
    alert_ids: Sequence[str] = (),
    parent_id: str | None = None,
    campaign: str | None = None,
    pap: str | None = None,
    assignee: str | None = None,
    data_dir: Path | None = None,
    escalation_id: str | None = None,
) -> dict[str, Any]:
    """Open a case (audited ``case.open``); returns its document.

    ``template`` (a name, see ``case_templates``; ``data_dir`` adds the node's own) gives the
    title prefix, tasks and defaults for severity, TLP and PAP; explicit values win. Alerts
    are merged, the parent and campaign linked, all in the caller's transaction.
    """
    chosen = get_template(template, data_dir=data_dir) if template else None
    title_text = clean_text(title, field="title", limit=MAX_TITLE, required=True)
    if chosen and chosen.title_prefix and not title_text.startswith(chosen.title_prefix):
        title_text = f"{chosen.title_prefix}: {title_text}"[:MAX_TITLE]
    level = choice(
        severity or (chosen.severity if chosen else "medium"), allowed=SEVERITIES, field="severity"
    )
    marking = tlp_value(tlp or (chosen.tlp if chosen else "amber"))
    try:
        pap_level = parse_pap(pap or (chosen.pap if chosen else "amber")).value
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="pap") from None
    now = clock.now()
    parent = None
    if parent_id:
        try:
            parent = find_case(session, case_id=parent_id)
        except NotFound:
            raise NotFound(f"no parent case {parent_id[:40]!r}", field="parent_id") from None
    who = known_user(session, assignee, field="assignee")
    case = Case(
        id=new_id(),
        number=_next_number(session, year=now.year),
        title=title_text,
        description=clean_text(
            description or (chosen.description if chosen else ""),
            field="description",
            limit=MAX_TEXT,
        ),
        severity=level,
        tlp=marking,
        pap=pap_level,
        status="new",
        disposition=None,
        assignee=who,
        parent_id=parent.id if parent else None,
        campaign_id=None,
        template=chosen.name if chosen else None,
        escalation_id=escalation_id,
        created_by=actor,
        created_at=now,
        updated_at=now,
        closed_at=None,
    )
    session.add(case)
    session.flush()
    created_campaign = False
    if campaign:
        found, created_campaign = campaign_named(session, clock=clock, actor=actor, name=campaign)
        case.campaign_id = found.id
    for item in chosen.tasks if chosen else ():
        create_task(
            session,
            case=case,
            title=item.title,
            description=item.description,
            mandatory=item.mandatory,
        )
    merged: dict[str, Any] = {"merged": [], "observables": []}
    if alert_ids:
        merged = merge_into(session, clock=clock, actor=actor, case=case, alert_ids=alert_ids)
    audit(
        session,
        clock=clock,
        actor=actor,
        action="case.open",
        case=case,
        detail={
            "title": case.title,
            "severity": case.severity,
            "tlp": case.tlp,
            "template": case.template,
            "alerts": merged["merged"],
            "observables": merged["observables"],
            "parent_id": case.parent_id,
            "campaign": campaign.strip() if campaign else None,
            "campaign_created": created_campaign,
            "escalation": escalation_id,
        },
    )
    return case_document(case, campaign=_campaign_name(session, case))


def update_case(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    case_id: str,
    title: str | None = None,
    description: str | None = None,
    severity: str | None = None,
    tlp: str | None = None,
    pap: str | None = None,
) -> dict[str, Any]:
    """Change the given fields of a case (audited ``case.update`` with before/after)."""
    case = find_case(session, case_id=case_id)
    wanted: dict[str, str] = {}
    if title is not None:
        wanted["title"] = clean_text(title, field="title", limit=MAX_TITLE, required=True)
    if description is not None:
        wanted["description"] = clean_text(description, field="description", limit=MAX_TEXT)
    if severity is not None:
        wanted["severity"] = choice(severity, allowed=SEVERITIES, field="severity")
    if tlp is not None:
        wanted["tlp"] = tlp_value(tlp)
    if pap is not None:
        try:
            wanted["pap"] = parse_pap(pap).value
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="pap") from None
    changes = {
        field: [getattr(case, field), value]
        for field, value in wanted.items()
        if getattr(case, field) != value
    }
    for field, (_before, after) in changes.items():
        setattr(case, field, after)
    if changes:
        shown = {k: (v if k != "description" else True) for k, v in changes.items()}
        audit(
            session,
            clock=clock,
            actor=actor,
            action="case.update",
            case=case,
            detail={"changes": shown},
        )
    return case_document(case, campaign=_campaign_name(session, case))


def assign_case(
    session: Session, *, clock: Clock, actor: str, case_id: str, assignee: str | None
) -> dict[str, Any]:
    """Give the case to a user of this node (None or "" unassigns); audited ``case.assign``."""
    case = find_case(session, case_id=case_id)
    who = known_user(session, assignee, field="assignee")
    if who != case.assignee:
        before = case.assignee
        case.assignee = who
        audit(
            session,
            clock=clock,
            actor=actor,
            action="case.assign",
            case=case,
            detail={"from": before, "to": who},
        )
    return case_document(case, campaign=_campaign_name(session, case))


def allowed_statuses(current: str) -> list[str]:
    """Where a case in ``current`` may go through :func:`set_status`."""
    if current == "closed":
        return ["investigating"]
    if current not in OPEN_STATUSES:
        return ["investigating"]
    index = OPEN_STATUSES.index(current)
    later = list(OPEN_STATUSES[index + 1 :])
    back = ["investigating"] if index > OPEN_STATUSES.index("investigating") else []
    return back + later


def set_status(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    case_id: str,
    status: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Move a case to ``status`` (see the module docstring); audited ``case.status``.

    Reopening (closed -> investigating) clears the disposition and closing time.
    """
    wanted = choice(status, allowed=STATUSES, field="status")
    case = find_case(session, case_id=case_id)
    if wanted == case.status:
        return case_document(case, campaign=_campaign_name(session, case))
    if wanted == "closed":
        raise InvalidInput(
            "a case is closed with close (a disposition and a reason are needed)", field="status"
        )
    allowed = allowed_statuses(case.status)
    if wanted not in allowed:
        raise InvalidInput(
            f"case {case.number} cannot go from {case.status} to {wanted}; "
            f"allowed: {', '.join(allowed)}",
            field="status",
            valid=allowed,
        )
    before = case.status
    reopened = before == "closed"
    detail: dict[str, Any] = {"from": before, "to": wanted, "reason": reason or None}
    if reopened:
        detail["disposition"] = case.disposition
        case.disposition = None
        case.closed_at = None
        detail["reopened"] = True
    case.status = wanted
    audit(session, clock=clock, actor=actor, action="case.status", case=case, detail=detail)
    return case_document(case, campaign=_campaign_name(session, case))


def _linked_alerts(session: Session, case: Case) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .join(CaseAlert, CaseAlert.alert_id == Alert.id)
            .where(CaseAlert.case_id == case.id)
            .order_by(Alert.first_seen, Alert.id)
        )
    )


def close_case(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    case_id: str,
    disposition: str,
    reason: str,
) -> dict[str, Any]:
    """Close a case with a disposition and a reason (audited ``case.close``).

    Its alerts are closed with it. A true positive still having mandatory tasks open is
    refused, naming them. A false positive reports each current indicator behind the case's
    indicator alerts as a false positive (``intel.false_positive``), lowering their scores.
    """
    kind = choice(disposition, allowed=DISPOSITIONS, field="disposition")
    why = clean_text(reason, field="reason", limit=MAX_REASON, required=True)
    case = find_case(session, case_id=case_id)
    if case.status == "closed":
        raise Conflict(f"case {case.number} is already closed", case_id=case.id)
    if kind == "true-positive":
        pending = list(
            session.scalars(
                select(CaseTask.title).where(
                    CaseTask.case_id == case.id,
                    CaseTask.mandatory.is_(True),
                    CaseTask.status.in_(("waiting", "in-progress")),
                )
            )
        )
        if pending:
            raise Conflict(
                f"case {case.number} has mandatory tasks open: {'; '.join(pending[:5])}",
                field="tasks",
                open_tasks=pending,
            )
    now = clock.now()
    alerts = _linked_alerts(session, case)
    feedback = None
    if kind == "false-positive":
        indicators = sorted(
            {a.indicator_id for a in alerts if a.kind == "indicator" and a.indicator_id}
        )
        if indicators:
            recorded = write_false_positive(
                session,
                clock=clock,
                actor=actor,
                indicator_ids=indicators,
                reason=f"case {case.number} closed as false positive: {why}",
            )
            feedback = recorded.document() if recorded else None
    for alert in alerts:
        if alert.status != "closed":
            alert.status = "closed"
            alert.updated_at = now
    before = case.status
    case.status = "closed"
    case.disposition = kind
    case.closed_at = now
    audit(
        session,
        clock=clock,
        actor=actor,
        action="case.close",
        case=case,
        detail={
            "from": before,
            "disposition": kind,
            "reason": why,
            "alerts_closed": [a.id for a in alerts],
            "false_positive": feedback,
        },
    )
    return {
        **case_document(case, campaign=_campaign_name(session, case)),
        "false_positive": feedback,
    }


def list_cases(
    session: Session,
    *,
    status: Sequence[str] | None = None,
    severity: Sequence[str] | None = None,
    assignee: str | None = None,
    campaign: str | None = None,
    text: str | None = None,
    limit: int = 100,
    offset: int = 0,
    max_tlp: Tlp | None = None,
) -> dict[str, Any]:
    """A page of cases, most recently changed first: ``{"cases", "total", "next_offset"}``.

    ``status`` may hold ``open`` (every status but closed); ``campaign`` is a name;
    ``text`` searches number, title and description.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if offset < 0:
        raise InvalidInput("offset must be 0 or more", field="offset")
    conditions = list(tlp_condition(max_tlp))
    statuses: list[str] = []
    for value in status or ():
        if value.strip().lower() == "open":
            statuses.extend(OPEN_STATUSES)
        elif value.strip():
            statuses.append(choice(value, allowed=(*STATUSES, "open"), field="status"))
    if statuses:
        conditions.append(Case.status.in_(statuses))
    levels = [choice(v, allowed=SEVERITIES, field="severity") for v in severity or () if v]
    if levels:
        conditions.append(Case.severity.in_(levels))
    if assignee:
        conditions.append(Case.assignee == assignee.strip())
    if campaign:
        conditions.append(
            Case.campaign_id.in_(
                select(CaseCampaign.id).where(CaseCampaign.name == campaign.strip())
            )
        )
    if text and text.strip():
        conditions.append(text_condition(text))
    total = session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0
    rows = session.execute(
        select(Case, CaseCampaign.name)
        .outerjoin(CaseCampaign, CaseCampaign.id == Case.campaign_id)
        .where(*conditions)
        .order_by(Case.updated_at.desc(), Case.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    cases = [case_document(case, campaign=name) for case, name in rows]
    more = offset + len(cases) < total
    return {"cases": cases, "total": total, "next_offset": offset + len(cases) if more else None}


def case_counts(session: Session, *, max_tlp: Tlp | None = None) -> dict[str, int]:
    """How many cases there are in each status (the board's column heads)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in session.execute(
        select(Case.status, func.count()).where(*tlp_condition(max_tlp)).group_by(Case.status)
    ):
        counts[status] = int(count)
    return counts


def case_view(
    session: Session, *, case_id: str, max_tlp: Tlp | None = None, intel: bool = True
) -> dict[str, Any]:
    """One case with everything on its page: tasks, observables (with the intelligence objects
    carrying each, when ``intel``), notes, alerts, parent, children, campaign and timeline."""
    case = find_case(session, case_id=case_id, max_tlp=max_tlp)
    tasks = session.scalars(
        select(CaseTask).where(CaseTask.case_id == case.id).order_by(CaseTask.position)
    )
    observables = list(
        session.scalars(
            select(CaseObservable)
            .where(CaseObservable.case_id == case.id)
            .order_by(CaseObservable.added_at, CaseObservable.kind, CaseObservable.value)
        )
    )
    shown_observables = []
    for index, observable in enumerate(observables):
        document = observable_document(observable)
        if intel and index < MAX_INTEL_LOOKUPS:
            document["intel"] = intel_for(session, kind=observable.kind, value=observable.value)
        shown_observables.append(document)
    notes = session.scalars(
        select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.created_at)
    )
    alerts = _linked_alerts(session, case)
    parent = session.get(Case, case.parent_id) if case.parent_id else None
    children = session.scalars(
        select(Case).where(Case.parent_id == case.id).order_by(Case.created_at)
    )
    campaign = session.get(CaseCampaign, case.campaign_id) if case.campaign_id else None
    siblings = []
    if campaign is not None:
        siblings = [
            {"id": c.id, "number": c.number, "title": c.title, "status": c.status}
            for c in session.scalars(
                select(Case)
                .where(Case.campaign_id == campaign.id, Case.id != case.id)
                .order_by(Case.created_at)
                .limit(100)
            )
            if visible(c, max_tlp)
        ]

    def brief(other: Case) -> dict[str, Any] | None:
        if not visible(other, max_tlp):
            return None
        return {
            "id": other.id,
            "number": other.number,
            "title": other.title,
            "status": other.status,
            "severity": other.severity,
        }

    return {
        "case": case_document(case, campaign=campaign.name if campaign else None),
        "allowed_statuses": allowed_statuses(case.status),
        "tasks": [task_document(task) for task in tasks],
        "observables": shown_observables,
        "notes": [note_document(note) for note in notes],
        "alerts": [alert_document(alert) for alert in alerts],
        "parent": brief(parent) if parent else None,
        "children": [b for b in (brief(child) for child in children) if b],
        "campaign": (
            {
                "id": campaign.id,
                "name": campaign.name,
                "description": campaign.description,
                "cases": siblings,
            }
            if campaign
            else None
        ),
        "timeline": case_timeline(session, case=case, alerts=alerts),
    }
