"""Approvals: n-of-m people agree before a run goes on.

Who may vote: a user named in the approval, or holding one of its roles (once escalated, also
the ``escalate_to`` roles). Holding ``admin`` does not make one an approver: the point of a
quorum is that the named people agree. The run's requester never votes on their own request.
One vote per person. ``quorum`` approvals grant the request; a single deny refuses it at once,
whatever the count: anyone entitled to approve is entitled to stop (as with two-person rules,
where either person can halt). Every vote and outcome is audited and logged as an event
(``playbook.approval.vote``, ``.granted``, ``.denied``; the watchdog adds ``.escalated`` and
``.expired``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.core import Clock
from watchkeeper.errors import Conflict, Forbidden, InvalidInput, NotFound
from watchkeeper.respond.run_models import (
    APPROVAL_STATUSES,
    DECISIONS,
    ApprovalVote,
    PlaybookApproval,
    PlaybookRun,
)
from watchkeeper.respond.run_views import approval_document
from watchkeeper.security import record_change

MAX_COMMENT = 2000


def eligible(approval: PlaybookApproval, *, user: str, roles: Collection[str]) -> bool:
    """Whether ``user`` (holding ``roles``) may vote on ``approval``."""
    allowed = set(approval.roles) | (set(approval.escalate_to) if approval.escalated else set())
    return user in approval.users or bool(allowed.intersection(roles))


def is_requester(approval: PlaybookApproval, *, user: str) -> bool:
    """Whether ``user`` asked for the run (``user:NAME``, ``cli:NAME`` or ``NAME``)."""
    return approval.requested_by in (user, f"user:{user}", f"cli:{user}")


def list_approvals(
    session: Session,
    *,
    user: str,
    roles: Collection[str],
    status: str | None = "pending",
    everyone: bool = False,
) -> list[dict[str, Any]]:
    """Approvals ``user`` may vote on (all of them with ``everyone``, for oversight), newest
    first; each says whether this user can vote now (``can_vote``) and why not."""
    if status is not None and status not in APPROVAL_STATUSES:
        raise InvalidInput(
            f"status: unknown {status!r}; expected {', '.join(APPROVAL_STATUSES)}",
            field="status",
        )
    query = select(PlaybookApproval).order_by(PlaybookApproval.created_at.desc()).limit(500)
    if status is not None:
        query = query.where(PlaybookApproval.status == status)
    found = []
    for approval in session.scalars(query):
        may = eligible(approval, user=user, roles=roles)
        if not (may or everyone):
            continue
        document = approval_document(session, approval)
        voted = any(vote["user"] == user for vote in document["votes"])
        document["can_vote"] = (
            may and not voted and approval.status == "pending"
            and not is_requester(approval, user=user)
        )  # fmt: skip
        found.append(document)
    return found


def decide(
    session: Session,
    *,
    clock: Clock,
    actor_user: str,
    actor_roles: Collection[str],
    approval_id: str,
    decision: str,
    comment: str = "",
) -> dict[str, Any]:
    """Record ``actor_user``'s vote (approve or deny) and settle the approval if it is decided."""
    if decision not in DECISIONS:
        raise InvalidInput(
            f"decision: expected one of {', '.join(DECISIONS)}, got {decision!r}",
            field="decision",
        )
    approval = session.get(PlaybookApproval, approval_id, with_for_update=True)
    if approval is None:
        raise NotFound(f"no approval {approval_id}", approval_id=approval_id)
    if approval.status != "pending":
        raise Conflict(f"approval {approval_id} is already {approval.status}",
                       approval_id=approval_id, status=approval.status)  # fmt: skip
    if is_requester(approval, user=actor_user):
        raise Forbidden(f"{actor_user} requested this run and cannot approve their own request",
                        approval_id=approval_id)  # fmt: skip
    if not eligible(approval, user=actor_user, roles=actor_roles):
        wanted = ", ".join([*approval.users, *(f"role {r}" for r in approval.roles)])
        raise Forbidden(f"{actor_user} is not an approver of {approval_id} (approvers: "
                        f"{wanted or 'none'})", approval_id=approval_id)  # fmt: skip
    previous = session.scalar(
        select(ApprovalVote).where(
            ApprovalVote.approval_id == approval_id, ApprovalVote.user == actor_user
        )
    )
    if previous is not None:
        raise Conflict(f"{actor_user} already voted {previous.decision} on {approval_id}",
                       approval_id=approval_id)  # fmt: skip
    now = clock.now()
    comment = comment.strip()[:MAX_COMMENT]
    session.add(ApprovalVote(approval_id=approval_id, user=actor_user, decision=decision,
                             comment=comment, at=now))  # fmt: skip
    session.flush()
    actor = f"user:{actor_user}"
    subject = f"approval:{approval_id}"
    record_change(session, clock=clock, actor=actor, action="playbook.approval.vote",
                  subject=subject, detail={"run_id": approval.run_id, "decision": decision,
                                           "comment": comment})  # fmt: skip
    approvals = session.scalars(
        select(ApprovalVote.user).where(
            ApprovalVote.approval_id == approval_id, ApprovalVote.decision == "approve"
        )
    ).all()
    outcome = None
    if decision == "deny":
        outcome = "denied"
    elif len(approvals) >= approval.quorum:
        outcome = "approved"
    if outcome is not None:
        approval.status, approval.decided_at = outcome, now
        action = (
            "playbook.approval.granted" if outcome == "approved" else "playbook.approval.denied"
        )
        record_change(session, clock=clock, actor=actor, action=action, subject=subject,
                      detail={"run_id": approval.run_id, "approvers": sorted(approvals),
                              "quorum": approval.quorum})  # fmt: skip
        wake(session, run_id=approval.run_id, clock=clock)
    return approval_document(session, approval)


def wake(session: Session, *, run_id: str, clock: Clock) -> None:
    """Make a waiting run due now (the runner picks it up at its next pass)."""
    run = session.get(PlaybookRun, run_id)
    if run is not None and run.status == "waiting":
        run.wake_at = clock.now()
