"""Tasks of a case and notes on it: the work to do and what people found while doing it.

A task moves waiting -> in-progress -> completed, or is cancelled; completing records who and
when. Notes are case-level (TheHive only has notes on tasks): a finding that belongs to no
one task still has a place, and notes are accepted on closed cases for the post-mortem.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, new_id
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.respond.case_records import (
    MAX_NAME,
    MAX_TEXT,
    MAX_TITLE,
    audit,
    choice,
    find_case,
    note_document,
    require_open,
    task_document,
    text,
)
from watchkeeper.respond.models import TASK_STATUSES, Case, CaseNote, CaseTask
from watchkeeper.security import get_user

MAX_NOTE = 50_000


def known_user(session: Session, name: str | None, *, field: str) -> str | None:
    """``name`` if it is a user of this node (None clears); ``NotFound`` naming ``field``."""
    if name is None or not name.strip():
        return None
    cleaned = text(name, field=field, limit=MAX_NAME)
    try:
        get_user(session, cleaned)
    except NotFound:
        raise NotFound(f"{field}: no user {cleaned!r}", field=field) from None
    return cleaned


def _due(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def create_task(
    session: Session,
    *,
    case: Case,
    title: str,
    description: str = "",
    mandatory: bool = False,
    assignee: str | None = None,
    due_at: datetime | None = None,
) -> CaseTask:
    """A new task at the end of the case's list (unaudited: callers audit the whole change)."""
    last = session.scalar(select(func.max(CaseTask.position)).where(CaseTask.case_id == case.id))
    task = CaseTask(
        id=new_id(),
        case_id=case.id,
        title=text(title, field="title", limit=MAX_TITLE, required=True),
        description=text(description, field="description", limit=MAX_TEXT),
        status="waiting",
        assignee=assignee,
        mandatory=bool(mandatory),
        position=(last or 0) + 1,
        due_at=_due(due_at),
    )
    session.add(task)
    session.flush()
    return task


def add_task(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    case_id: str,
    title: str,
    description: str = "",
    mandatory: bool = False,
    assignee: str | None = None,
    due_at: datetime | None = None,
) -> dict[str, Any]:
    """Add a task to an open case (audited ``case.task``)."""
    case = find_case(session, case_id=case_id)
    require_open(case, doing="adding tasks")
    task = create_task(
        session,
        case=case,
        title=title,
        description=description,
        mandatory=mandatory,
        assignee=known_user(session, assignee, field="assignee"),
        due_at=due_at,
    )
    audit(
        session,
        clock=clock,
        actor=actor,
        action="case.task",
        case=case,
        detail={"task_id": task.id, "change": "added", "title": task.title},
    )
    return task_document(task)


def update_task(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    case_id: str,
    task_id: str,
    status: str | None = None,
    assignee: str | None = None,
    title: str | None = None,
    description: str | None = None,
    due_at: datetime | None = None,
) -> dict[str, Any]:
    """Change a task (only the fields given); audited ``case.task`` with what changed."""
    case = find_case(session, case_id=case_id)
    require_open(case, doing="changing tasks")
    task = session.get(CaseTask, (task_id or "").strip()[:36])
    if task is None or task.case_id != case.id:
        raise NotFound(f"case {case.number} has no task {task_id[:40]!r}", field="task_id")
    changes: dict[str, Any] = {}
    if status is not None:
        wanted = choice(status, allowed=TASK_STATUSES, field="status")
        if wanted != task.status:
            changes["status"] = [task.status, wanted]
            task.status = wanted
            done = wanted == "completed"
            task.completed_by = actor if done else None
            task.completed_at = clock.now() if done else None
    if assignee is not None:
        who = known_user(session, assignee, field="assignee")
        if who != task.assignee:
            changes["assignee"] = [task.assignee, who]
            task.assignee = who
    if title is not None:
        new_title = text(title, field="title", limit=MAX_TITLE, required=True)
        if new_title != task.title:
            changes["title"] = [task.title, new_title]
            task.title = new_title
    if description is not None:
        task.description = text(description, field="description", limit=MAX_TEXT)
        changes["description"] = True
    if due_at is not None:
        task.due_at = _due(due_at)
        changes["due_at"] = task.due_at.isoformat() if task.due_at else None
    if changes:
        audit(
            session,
            clock=clock,
            actor=actor,
            action="case.task",
            case=case,
            detail={"task_id": task.id, "change": "updated", "changes": changes},
        )
    return task_document(task)


def add_note(
    session: Session, *, clock: Clock, actor: str, case_id: str, text: str
) -> dict[str, Any]:
    """Add a note to a case, open or closed (audited ``case.note``, without its text)."""
    case = find_case(session, case_id=case_id)
    body = (text or "").strip()
    if not body:
        raise InvalidInput("text is required", field="text")
    if len(body) > MAX_NOTE:
        raise InvalidInput(f"text longer than {MAX_NOTE} characters", field="text")
    note = CaseNote(id=new_id(), case_id=case.id, author=actor, text=body, created_at=clock.now())
    session.add(note)
    session.flush()
    audit(
        session,
        clock=clock,
        actor=actor,
        action="case.note",
        case=case,
        detail={"note_id": note.id, "length": len(body)},
    )
    return note_document(note)
