"""What every case use case shares: finding a case, checking input, auditing, documents.

A case is found by its uuid or by its number (``C-2026-0042``, what people say on the phone).
A case marked above what the caller may see is answered like a missing one. Every change goes
through :func:`audit`: one ledger entry and one event whose subject is the case id, which is
also what the case timeline is built from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.core.tlp import Tlp, parse_tlp
from watchkeeper.errors import Conflict, InvalidInput, NotFound
from watchkeeper.respond.models import Case, CaseNote, CaseObservable, CaseTask
from watchkeeper.security import record_change

MAX_TITLE = 300
MAX_TEXT = 20_000
MAX_NAME = 200
NUMBER = re.compile(r"^C-\d{4}-\d{4,}$", re.IGNORECASE)


def choice(value: str, *, allowed: Sequence[str], field: str) -> str:
    """``value`` lower-cased if it is one of ``allowed``; else ``InvalidInput`` naming both."""
    chosen = value.strip().lower() if isinstance(value, str) else ""
    if chosen not in allowed:
        raise InvalidInput(
            f"{field} must be one of {', '.join(allowed)} (got {str(value)[:50]!r})",
            field=field,
            valid=list(allowed),
        )
    return chosen


def text(value: str | None, *, field: str, limit: int, required: bool = False) -> str:
    """``value`` stripped, refused when too long (or empty and ``required``)."""
    cleaned = (value or "").strip()
    if required and not cleaned:
        raise InvalidInput(f"{field} is required", field=field)
    if len(cleaned) > limit:
        raise InvalidInput(f"{field} longer than {limit} characters", field=field)
    return cleaned


def tlp_value(value: str, *, field: str = "tlp") -> str:
    """The stored TLP 2.0 name (``amber+strict``) of what a user wrote (``TLP:AMBER+STRICT``)."""
    try:
        return parse_tlp(value).value
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=field) from None


def visible(case: Case, max_tlp: Tlp | None) -> bool:
    """Whether the caller may see ``case`` (None: any marking)."""
    if max_tlp is None:
        return True
    try:
        return parse_tlp(case.tlp) <= max_tlp
    except InvalidInput:
        return False


def tlp_condition(max_tlp: Tlp | None) -> list[ColumnElement[bool]]:
    """SQL form of :func:`visible`."""
    if max_tlp is None:
        return []
    allowed = [member.value for member in Tlp if member <= max_tlp]
    return [func.lower(Case.tlp).in_(allowed)]


def find_case(session: Session, *, case_id: str, max_tlp: Tlp | None = None) -> Case:
    """The case with this id or number; ``NotFound`` (field ``case_id``) otherwise."""
    wanted = (case_id or "").strip()[:40]
    case = None
    if NUMBER.match(wanted):
        case = session.scalars(select(Case).where(Case.number == wanted.upper())).first()
    elif wanted:
        case = session.get(Case, wanted)
    if case is None or not visible(case, max_tlp):
        raise NotFound(f"no case {wanted!r}", field="case_id", case_id=wanted)
    return case


def require_open(case: Case, *, doing: str) -> None:
    """Refuse changing the work of a closed case: it must be reopened first."""
    if case.status == "closed":
        raise Conflict(
            f"case {case.number} is closed; reopen it (status investigating) before {doing}",
            case_id=case.id,
        )


def audit(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    action: str,
    case: Case,
    detail: dict[str, Any],
) -> None:
    """Record a change of ``case`` (ledger + event, subject the case id) and touch it."""
    case.updated_at = clock.now()
    record_change(
        session,
        clock=clock,
        actor=actor,
        action=action,
        subject=case.id,
        detail={"case_id": case.id, "number": case.number, **detail},
    )


def case_document(case: Case, *, campaign: str | None = None) -> dict[str, Any]:
    """A case as the API, the CLI and the UI show it."""
    return {
        "id": case.id,
        "number": case.number,
        "title": case.title,
        "description": case.description,
        "severity": case.severity,
        "tlp": case.tlp,
        "tlp_label": f"TLP:{case.tlp.upper()}",
        "pap": case.pap,
        "status": case.status,
        "disposition": case.disposition,
        "assignee": case.assignee,
        "parent_id": case.parent_id,
        "campaign_id": case.campaign_id,
        "campaign": campaign,
        "template": case.template,
        "escalation_id": case.escalation_id,
        "created_by": case.created_by,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }


def task_document(task: CaseTask) -> dict[str, Any]:
    """A task as shown."""
    return {
        "id": task.id,
        "case_id": task.case_id,
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "assignee": task.assignee,
        "mandatory": task.mandatory,
        "position": task.position,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "completed_by": task.completed_by,
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
    }


def observable_document(observable: CaseObservable) -> dict[str, Any]:
    """An observable as shown."""
    return {
        "id": observable.id,
        "case_id": observable.case_id,
        "kind": observable.kind,
        "value": observable.value,
        "ioc": observable.ioc,
        "tlp": observable.tlp,
        "note": observable.note,
        "added_by": observable.added_by,
        "added_at": observable.added_at.isoformat(),
    }


def note_document(note: CaseNote) -> dict[str, Any]:
    """A note as shown."""
    return {
        "id": note.id,
        "case_id": note.case_id,
        "author": note.author,
        "text": note.text,
        "created_at": note.created_at.isoformat(),
    }


def text_condition(query: str) -> ColumnElement[bool]:
    """Case-insensitive search in the number, title and description."""
    needle = query.strip().lower()[:500]
    return or_(
        *(
            func.lower(column).contains(needle, autoescape=True)
            for column in (Case.number, Case.title, Case.description)
        )
    )
