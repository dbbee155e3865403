"""Retention and disposal: when content may be destroyed, and the four-eyes rule that does it.

An item's retention date and legal hold live in its ``legal`` record; changing them is audited
with the old and new values. Disposal is a request by one person and two approvals by two
others (never the requester, never the same person twice). It is refused while a legal hold
is on or before the retention date, both when asked and when approved, since a hold can be
put on in between. The second approval marks the item "disposed" and appends a signed
"dispose" custody event (hash before = the content's SHA-256, hash after = none): the custody
chain, the request and its approvals are kept forever; only the content goes.

The content file is removed after the transaction commits, and only when no other live item
has the same SHA-256 (content is stored once per hash). Removing it first would risk
destroying evidence whose disposal then fails to be recorded; a file left behind by a crash
between commit and removal is harmless and is removed by the next disposal of that content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock, new_id
from watchkeeper.errors import Conflict, Forbidden, InvalidInput, NotFound
from watchkeeper.evidence.custody import (
    EVIDENCE_LOCK,
    Signer,
    acting_role,
    find_item,
    item_document,
    node_signer,
    record_custody,
)
from watchkeeper.evidence.disposal_models import (
    APPROVALS_NEEDED,
    DisposalApproval,
    DisposalRequest,
)
from watchkeeper.evidence.models import EvidenceItem
from watchkeeper.evidence.vault import content_path
from watchkeeper.node import Node
from watchkeeper.security import Principal, record_change
from watchkeeper.store import serialize

DISPOSE_ROLES = ("evidence-officer",)


@dataclass(frozen=True)
class Approval:
    """What one approval did: the request now, and the content to remove after commit."""

    request: dict[str, Any]
    remove_sha256: str | None = None


def _audit(
    session: Session, *, clock: Clock, actor: str, action: str, item: EvidenceItem, detail: Any
) -> None:
    record_change(
        session,
        clock=clock,
        actor=actor,
        action=action,
        subject=f"evidence:{item.exhibit_number}",
        detail=detail,
    )


def set_retention(
    session: Session, *, clock: Clock, actor: str, item_id: str, until: date | None
) -> dict[str, Any]:
    """Keep the item at least until ``until`` (``None`` clears the date); audited."""
    item = find_item(session, item_id)
    before = item.legal.get("retention_until")
    after = until.isoformat() if until else None
    item.legal = {**item.legal, "retention_until": after}
    _audit(
        session, clock=clock, actor=actor, action="evidence.retention", item=item,
        detail={"before": before, "after": after},
    )  # fmt: skip
    session.flush()
    return item_document(item)


def set_legal_hold(
    session: Session, *, clock: Clock, actor: str, item_id: str, hold: bool, reason: str
) -> dict[str, Any]:
    """Put on or release a legal hold (no disposal while on); a reason is required."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a reason is required to change a legal hold", field="reason")
    item = find_item(session, item_id)
    before = bool(item.legal.get("legal_hold"))
    item.legal = {**item.legal, "legal_hold": hold}
    _audit(
        session, clock=clock, actor=actor, action="evidence.legal-hold", item=item,
        detail={"before": before, "after": hold, "reason": text},
    )  # fmt: skip
    session.flush()
    return item_document(item)


def authorise_onward(
    session: Session, *, clock: Clock, actor: str, item_id: str, peer: str, authority: str
) -> dict[str, Any]:
    """Record the sending state's authorisation to pass a received item on to ``peer``
    (Art 36(3)); ``authority`` cites it (letter, message, reference)."""
    text = (authority or "").strip()
    if not text:
        raise InvalidInput(
            "cite the sender's authorisation (reference or letter)", field="authority"
        )
    item = find_item(session, item_id)
    sender = item.legal.get("received_from")
    if not sender:
        raise InvalidInput(
            f"{item.exhibit_number} was not received from another state; no authorisation "
            "is needed to send it",
            item=item.exhibit_number,
        )
    allowed = sorted({*(item.legal.get("onward_authorised") or []), peer})
    item.legal = {**item.legal, "onward_authorised": allowed}
    _audit(
        session, clock=clock, actor=actor, action="evidence.onward-authorised", item=item,
        detail={"peer": peer, "sender": sender, "authority": text},
    )  # fmt: skip
    session.flush()
    return item_document(item)


def _check_disposable(session: Session, item: EvidenceItem, today: date) -> None:
    number = item.exhibit_number
    if item.status == "disposed":
        raise Conflict(f"{number} is already disposed", item=number)
    if item.status == "checked-out":
        raise Conflict(f"{number} is checked out; check it in first", item=number)
    if item.legal.get("legal_hold"):
        raise Conflict(f"{number} is under legal hold: it cannot be disposed", item=number)
    until = item.legal.get("retention_until")
    if until and today < date.fromisoformat(str(until)):
        raise Conflict(f"{number} must be retained until {until}", item=number, until=until)
    live_children = session.scalar(
        select(func.count())
        .select_from(EvidenceItem)
        .where(EvidenceItem.parent_id == item.id, EvidenceItem.status != "disposed")
    )
    if live_children:
        raise Conflict(f"{number} has {live_children} item(s) not disposed yet", item=number)


def request_document(session: Session, request: DisposalRequest) -> dict[str, Any]:
    """A request with its item's exhibit number and its approvers, JSON-ready."""
    item = session.get(EvidenceItem, request.item_id)
    approvers = session.scalars(
        select(DisposalApproval.approver)
        .where(DisposalApproval.request_id == request.id)
        .order_by(DisposalApproval.id)
    )
    return {
        "id": request.id,
        "item_id": request.item_id,
        "exhibit_number": item.exhibit_number if item else None,
        "reason": request.reason,
        "requested_by": request.requested_by,
        "requested_at": request.requested_at,
        "status": request.status,
        "approvers": list(approvers),
        "disposed_at": request.disposed_at,
    }


def request_disposal(
    session: Session, *, clock: Clock, actor: str, item_id: str, reason: str
) -> dict[str, Any]:
    """Ask for an item to be disposed of; two other people must approve."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a reason is required to dispose of evidence", field="reason")
    item = find_item(session, item_id)
    _check_disposable(session, item, clock.now().date())
    pending = session.scalar(
        select(DisposalRequest.id).where(
            DisposalRequest.item_id == item.id, DisposalRequest.status == "pending"
        )
    )
    if pending:
        number = item.exhibit_number
        raise Conflict(f"{number} already has disposal request {pending}", item=pending)
    request = DisposalRequest(
        id=new_id(),
        item_id=item.id,
        reason=text,
        requested_by=actor,
        requested_at=clock.now(),
        status="pending",
    )
    session.add(request)
    session.flush()
    _audit(
        session, clock=clock, actor=actor, action="evidence.dispose.request", item=item,
        detail={"request": request.id, "reason": text},
    )  # fmt: skip
    return request_document(session, request)


def approve_disposal(
    session: Session,
    *,
    clock: Clock,
    signer: Signer,
    actor: str,
    role: str,
    request_id: str,
) -> Approval:
    """Approve a request; the second approval disposes of the item (see module docstring)."""
    serialize(session, EVIDENCE_LOCK)
    request = session.get(DisposalRequest, (request_id or "").strip())
    if request is None:
        raise NotFound(f"no disposal request {request_id!r}", field="request")
    if request.status != "pending":
        raise Conflict(f"disposal request {request.id} is {request.status}", request=request.id)
    if actor == request.requested_by:
        raise Forbidden(f"{actor} requested this disposal and cannot approve it", actor=actor)
    approvers = list(
        session.scalars(
            select(DisposalApproval.approver).where(DisposalApproval.request_id == request.id)
        )
    )
    if actor in approvers:
        raise Conflict(f"{actor} has already approved disposal request {request.id}", actor=actor)
    item = session.get(EvidenceItem, request.item_id, with_for_update=True)
    if item is None:
        raise NotFound(f"no evidence item {request.item_id!r}", field="item")
    _check_disposable(session, item, clock.now().date())
    now = clock.now()
    session.add(DisposalApproval(request_id=request.id, approver=actor, at=now))
    approvers.append(actor)
    _audit(
        session, clock=clock, actor=actor, action="evidence.dispose.approve", item=item,
        detail={"request": request.id, "approvals": len(approvers)},
    )  # fmt: skip
    remove: str | None = None
    if len(approvers) >= APPROVALS_NEEDED:
        shared = 0
        if item.sha256 is not None:
            shared = (
                session.scalar(
                    select(func.count())
                    .select_from(EvidenceItem)
                    .where(
                        EvidenceItem.sha256 == item.sha256,
                        EvidenceItem.id != item.id,
                        EvidenceItem.status != "disposed",
                    )
                )
                or 0
            )
        record_custody(
            session,
            clock=clock,
            signer=signer,
            item_id=item.id,
            action="dispose",
            actor=actor,
            role=role,
            purpose=request.reason,
            hash_before=item.sha256,
            hash_after=None,
            detail={
                "request": request.id,
                "requested_by": request.requested_by,
                "approvers": approvers,
                "content_removed": item.sha256 is not None and shared == 0,
                "content_shared_with": shared,
            },
        )
        item.status = "disposed"
        request.status = "disposed"
        request.disposed_at = now
        if item.sha256 is not None and shared == 0:
            remove = item.sha256
    session.flush()
    return Approval(request=request_document(session, request), remove_sha256=remove)


def remove_content(node: Node, sha256: str) -> bool:
    """Delete the content file of a disposed hash (after commit); True when a file went."""
    path = content_path(node.data_dir, sha256)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def dispose_request(*, node: Node, principal: Principal, item: str, reason: str) -> dict[str, Any]:
    """``request_disposal`` for a principal holding the evidence-officer role."""
    principal.require(*DISPOSE_ROLES)
    with node.database.transaction() as session:
        return request_disposal(
            session, clock=node.clock, actor=principal.actor, item_id=item, reason=reason
        )


def dispose_approve(*, node: Node, principal: Principal, request_id: str) -> dict[str, Any]:
    """``approve_disposal``, then remove the content once the disposal is committed."""
    principal.require(*DISPOSE_ROLES)
    signer = node_signer(node)
    with node.database.transaction() as session:
        outcome = approve_disposal(
            session,
            clock=node.clock,
            signer=signer,
            actor=principal.actor,
            role=acting_role(principal),
            request_id=request_id,
        )
    removed = remove_content(node, outcome.remove_sha256) if outcome.remove_sha256 else False
    return {**outcome.request, "content_removed": removed}


def list_disposals(session: Session, *, status: str | None = None) -> list[dict[str, Any]]:
    """Disposal requests, newest first."""
    query = select(DisposalRequest).order_by(DisposalRequest.requested_at.desc())
    if status:
        query = query.where(DisposalRequest.status == status)
    return [request_document(session, r) for r in session.scalars(query)]
