"""Cases over the API: list and filter, open one, change, assign, move, close; tasks, notes,
observables, merged alerts and links.

Staff only, never a partner node: cases name victims. Auditors read and change nothing.
TLP:RED cases are kept from anyone but staff (``max_tlp_for``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from watchkeeper.detect.alert_views import max_tlp_for
from watchkeeper.node import Node
from watchkeeper.respond.case_templates import load_templates
from watchkeeper.respond.cases import (
    add_note,
    add_observable,
    add_task,
    assign_case,
    case_counts,
    case_view,
    close_case,
    link_cases,
    list_cases,
    merge_alerts,
    open_case,
    set_status,
    update_case,
    update_task,
)
from watchkeeper.security import Principal
from watchkeeper.web.deps import NodeDep, require

router = APIRouter(prefix="/cases", tags=["cases"])
READERS = ("admin", "analyst", "responder", "poc-officer", "auditor")
CHANGERS = ("admin", "analyst", "responder")
Reader = Annotated[Principal, Depends(require(*READERS))]
Changer = Annotated[Principal, Depends(require(*CHANGERS))]
Id = Annotated[str, Field(min_length=1, max_length=40)]


class CaseIn(BaseModel):
    """A new case; severity, TLP and PAP default to the template's (else medium, amber)."""

    title: str = Field(min_length=1, max_length=300)
    severity: str | None = Field(None, max_length=20)
    tlp: str | None = Field(None, max_length=30)
    pap: str | None = Field(None, max_length=30)
    description: str = Field("", max_length=20_000)
    template: str | None = Field(None, max_length=100)
    alert_ids: list[Id] = Field(default_factory=list, max_length=500)
    parent_id: str | None = Field(None, max_length=40)
    campaign: str | None = Field(None, max_length=200)
    assignee: str | None = Field(None, max_length=200)


class CasePatch(BaseModel):
    """Fields of a case to change (those left out stay)."""

    title: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=20_000)
    severity: str | None = Field(None, max_length=20)
    tlp: str | None = Field(None, max_length=30)
    pap: str | None = Field(None, max_length=30)


class AssignIn(BaseModel):
    """Who handles the case (null unassigns)."""

    assignee: str | None = Field(None, max_length=200)


class StatusIn(BaseModel):
    """The case's next status, and why."""

    status: str = Field(min_length=1, max_length=20)
    reason: str | None = Field(None, max_length=4000)


class CloseIn(BaseModel):
    """How the case ended."""

    disposition: str = Field(min_length=1, max_length=20)
    reason: str = Field(min_length=1, max_length=4000)


class NoteIn(BaseModel):
    """A note's text."""

    text: str = Field(min_length=1, max_length=50_000)


class TaskIn(BaseModel):
    """A new task."""

    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=20_000)
    mandatory: bool = False
    assignee: str | None = Field(None, max_length=200)
    due_at: datetime | None = None


class TaskPatch(BaseModel):
    """Fields of a task to change."""

    status: str | None = Field(None, max_length=20)
    assignee: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=20_000)
    due_at: datetime | None = None


class ObservableIn(BaseModel):
    """A value seen in the case."""

    kind: str = Field(min_length=1, max_length=20)
    value: str = Field(min_length=1, max_length=2000)
    ioc: bool = False
    tlp: str | None = Field(None, max_length=30)
    note: str = Field("", max_length=4000)


class AlertsIn(BaseModel):
    """Alerts to merge into the case."""

    alert_ids: list[Id] = Field(min_length=1, max_length=500)


class LinksIn(BaseModel):
    """A parent case and/or a campaign name; ``unlink_*`` removes them."""

    parent_id: str | None = Field(None, max_length=40)
    campaign: str | None = Field(None, max_length=200)
    unlink_parent: bool = False
    unlink_campaign: bool = False


@router.get("")
def cases_list(
    node: NodeDep,
    principal: Reader,
    status: Annotated[list[str] | None, Query(max_length=10)] = None,
    severity: Annotated[list[str] | None, Query(max_length=10)] = None,
    assignee: str | None = Query(None, min_length=1, max_length=200),
    campaign: str | None = Query(None, min_length=1, max_length=200),
    q: str | None = Query(None, min_length=1, max_length=500, description="Number, title."),
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """A page of cases, most recently changed first (``status=open``: all but closed)."""
    with node.database.reader() as session:
        return list_cases(
            session,
            status=status,
            severity=severity,
            assignee=assignee,
            campaign=campaign,
            text=q,
            limit=limit,
            offset=offset,
            max_tlp=max_tlp_for(principal),
        )


@router.get("/counts")
def cases_counts(node: NodeDep, principal: Reader) -> dict[str, int]:
    """Cases by status."""
    with node.database.reader() as session:
        return case_counts(session, max_tlp=max_tlp_for(principal))


@router.get("/templates")
def case_templates(node: NodeDep, principal: Reader) -> list[dict[str, Any]]:
    """The case templates of this node (built-in and data_dir/case_templates)."""
    return [t.document() for t in load_templates(data_dir=node.data_dir).values()]


@router.post("", status_code=201)
def case_create(node: NodeDep, principal: Changer, body: CaseIn) -> JSONResponse:
    """Open a case (from a template, with alerts merged, linked to a parent or campaign)."""
    with node.database.transaction() as session:
        opened = open_case(
            session,
            clock=node.clock,
            actor=principal.actor,
            title=body.title,
            severity=body.severity,
            tlp=body.tlp,
            pap=body.pap,
            description=body.description,
            template=body.template,
            alert_ids=body.alert_ids,
            parent_id=body.parent_id,
            campaign=body.campaign,
            assignee=body.assignee,
            data_dir=node.data_dir,
        )
    return JSONResponse(opened, status_code=201)


@router.get("/{case_id}")
def case_get(node: NodeDep, principal: Reader, case_id: str) -> dict[str, Any]:
    """One case (by id or number) with tasks, observables and their intelligence, notes,
    alerts, links and its timeline."""
    with node.database.reader() as session:
        return case_view(session, case_id=case_id, max_tlp=max_tlp_for(principal))


def _change(
    node: Node, principal: Principal, use_case: Callable[..., dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    """Run one of the case use cases as ``principal``, in a transaction of its own: every
    change route below differs only by the use case and the fields it passes."""
    with node.database.transaction() as session:
        return use_case(session, clock=node.clock, actor=principal.actor, **fields)


@router.patch("/{case_id}")
def case_patch(node: NodeDep, principal: Changer, case_id: str, body: CasePatch) -> dict[str, Any]:
    """Change title, description, severity, TLP or PAP."""
    return _change(
        node, principal, update_case, case_id=case_id, **body.model_dump(exclude_none=True)
    )


@router.post("/{case_id}/assign")
def case_assign(node: NodeDep, principal: Changer, case_id: str, body: AssignIn) -> dict[str, Any]:
    """Give the case to a user of this node."""
    return _change(node, principal, assign_case, case_id=case_id, assignee=body.assignee)


@router.post("/{case_id}/status")
def case_status(node: NodeDep, principal: Changer, case_id: str, body: StatusIn) -> dict[str, Any]:
    """Move the case to another status (investigating reopens a closed case)."""
    return _change(
        node, principal, set_status, case_id=case_id, status=body.status, reason=body.reason
    )


@router.post("/{case_id}/close")
def case_close(node: NodeDep, principal: Changer, case_id: str, body: CloseIn) -> dict[str, Any]:
    """Close the case; false-positive lowers the score of the indicators behind it."""
    return _change(
        node,
        principal,
        close_case,
        case_id=case_id,
        disposition=body.disposition,
        reason=body.reason,
    )


@router.post("/{case_id}/notes", status_code=201)
def case_note(node: NodeDep, principal: Changer, case_id: str, body: NoteIn) -> dict[str, Any]:
    """Add a note."""
    return _change(node, principal, add_note, case_id=case_id, text=body.text)


@router.post("/{case_id}/tasks", status_code=201)
def case_task(node: NodeDep, principal: Changer, case_id: str, body: TaskIn) -> dict[str, Any]:
    """Add a task."""
    return _change(node, principal, add_task, case_id=case_id, **body.model_dump())


@router.patch("/{case_id}/tasks/{task_id}")
def case_task_patch(
    node: NodeDep, principal: Changer, case_id: str, task_id: str, body: TaskPatch
) -> dict[str, Any]:
    """Change a task (complete it, assign it...)."""
    return _change(
        node,
        principal,
        update_task,
        case_id=case_id,
        task_id=task_id,
        **body.model_dump(exclude_none=True),
    )


@router.post("/{case_id}/observables", status_code=201)
def case_observable(
    node: NodeDep, principal: Changer, case_id: str, body: ObservableIn
) -> dict[str, Any]:
    """Add a value (normalised); the answer lists the intelligence objects carrying it."""
    return _change(node, principal, add_observable, case_id=case_id, **body.model_dump())


@router.post("/{case_id}/alerts")
def case_merge(node: NodeDep, principal: Changer, case_id: str, body: AlertsIn) -> dict[str, Any]:
    """Merge one or many alerts into the case."""
    return _change(node, principal, merge_alerts, case_id=case_id, alert_ids=body.alert_ids)


@router.post("/{case_id}/links")
def case_links(node: NodeDep, principal: Changer, case_id: str, body: LinksIn) -> dict[str, Any]:
    """Set or remove the parent case and the campaign."""
    return _change(node, principal, link_cases, case_id=case_id, **body.model_dump())
