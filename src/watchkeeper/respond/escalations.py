"""Cases from escalations: the ``case-from-escalation`` subscriber of ``detect.alert.escalate``.

Detection does not open cases; it marks alerts escalated and emits one event per request.
This subscriber opens the case in the dispatcher's delivery transaction, so the case, the
alerts' ``case_id`` and the cursor commit together. It is idempotent twice over: a redelivered
event finds the case by its ``escalation_id`` (unique), and a retry (a new request for alerts
still unlinked, listed under ``again``) finds the alerts already linked by the first request
and merges any others into that case instead of opening a second one. When an active playbook
is triggered by escalations (the built-in ``alert-escalation`` is, once playbooks are loaded),
the playbook opens the case and this subscriber stands back.
"""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.bus.models import Event
from watchkeeper.core import Clock
from watchkeeper.core.tlp import Tlp, parse_tlp
from watchkeeper.detect.alert_views import ESCALATE_EVENT
from watchkeeper.detect.models import Alert
from watchkeeper.errors import InvalidInput
from watchkeeper.node import Node
from watchkeeper.respond.case_links import merge_alerts
from watchkeeper.respond.case_templates import load_templates
from watchkeeper.respond.cases import open_case
from watchkeeper.respond.models import SEVERITIES, Case
from watchkeeper.respond.playbook_store import active_playbooks

log = logging.getLogger(__name__)
SUBSCRIBER = "case-from-escalation"
ACTOR = "system:case-from-escalation"


def _strictest(alerts: list[Alert]) -> str:
    level = Tlp.AMBER
    for alert in alerts:
        if alert.tlp:
            try:
                level = max(level, parse_tlp(alert.tlp))
            except InvalidInput:
                level = Tlp.RED
    return level.value


def case_from_escalation(
    session: Session, *, clock: Clock, event: Event, data_dir: Path | None = None
) -> dict[str, Any] | None:
    """Open (or find) the case of one escalation event; None when none of its alerts exists."""
    payload = event.payload or {}
    escalation = str(payload.get("escalation") or event.subject or "")
    if not escalation:
        log.warning("escalation event %s names no escalation; ignored", event.seq)
        return None
    existing = session.scalars(select(Case).where(Case.escalation_id == escalation)).first()
    if existing is not None:
        return {"case_id": existing.id, "number": existing.number, "opened": False}
    if playbook_takes_over(session, event_type=event.type):
        return None
    wanted = [str(item.get("id")) for item in payload.get("alerts") or [] if item.get("id")]
    alerts = list(session.scalars(select(Alert).where(Alert.id.in_(wanted))))
    if not alerts:
        log.warning("escalation %s: none of its alerts exists any more", escalation)
        return None
    linked = sorted({a.case_id for a in alerts if a.case_id})
    if linked:
        # A retry after the first request was served: complete that case, open no other.
        target = session.get(Case, linked[0])
        if target is not None:
            rest = [a.id for a in alerts if not a.case_id]
            if rest and target.status != "closed":
                merge_alerts(session, clock=clock, actor=ACTOR, case_id=target.id, alert_ids=rest)
            return {"case_id": target.id, "number": target.number, "opened": False}
    severity = max((a.severity for a in alerts if a.severity in SEVERITIES),
                   key=SEVERITIES.index, default="medium")  # fmt: skip
    template = None
    if all(a.kind == "indicator" for a in alerts):
        try:
            template = (
                "indicator-hit" if "indicator-hit" in load_templates(data_dir=data_dir) else None
            )
        except InvalidInput as exc:
            # A broken local template must not stop cases from opening: open one without.
            log.warning("case templates unusable, opening without one: %s", exc)
    requested_by = str(payload.get("requested_by") or event.actor)
    title = str(payload.get("title") or alerts[0].title)[:300]
    case = open_case(
        session,
        clock=clock,
        actor=requested_by,
        title=title,
        severity=severity,
        tlp=_strictest(alerts),
        description=f"Opened from escalation {escalation} requested by {requested_by}.",
        template=template,
        alert_ids=[a.id for a in alerts],
        data_dir=data_dir,
        escalation_id=escalation,
    )
    return {"case_id": case["id"], "number": case["number"], "opened": True}


def playbook_takes_over(session: Session, *, event_type: str) -> bool:
    """Whether an active playbook is triggered by this event type: it then opens the case (with
    its approvals and actions), and this subscriber stands back so no second case opens."""
    return any(
        playbook.trigger is not None and fnmatch.fnmatchcase(event_type, playbook.trigger.event)
        for playbook in active_playbooks(session)
    )


def register(node: Node) -> None:
    """Subscribe ``case-from-escalation`` on the node's dispatcher (once per process)."""
    if any(sub.name == SUBSCRIBER for sub in node.dispatcher.subscribers):
        return

    def handle(session: Session, event: Event) -> None:
        case_from_escalation(session, clock=node.clock, event=event, data_dir=node.data_dir)

    node.dispatcher.subscribe(SUBSCRIBER, handle, types=(ESCALATE_EVENT,))
