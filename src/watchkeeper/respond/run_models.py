"""Tables of playbook runs: runs, their steps, approvals and votes, action receipts, blocklist.

Everything a run needs to go on after a crash is here: the playbook it follows (a snapshot, so
editing the file never changes a run under way), where each step stands, when a waiting step
wakes, and who holds the run's lease. ``action_receipts`` make side effects happen once: a
receipt is written in the transaction that completes the step, keyed by run and step path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, JSONValue, SeqType, UTCDateTime

RUN_STATUSES = ("queued", "running", "waiting", "completed", "failed", "cancelled", "timed-out")
RUN_ACTIVE = ("queued", "running", "waiting")
RUN_ENDED = ("completed", "failed", "cancelled", "timed-out")
STEP_STATUSES = (
    "pending", "running", "waiting", "completed", "failed", "skipped", "cancelled", "timed-out",
)  # fmt: skip
APPROVAL_STATUSES = ("pending", "approved", "denied", "expired")
DECISIONS = ("approve", "deny")
BLOCK_KINDS = ("ipv4", "ipv6", "cidr4", "cidr6", "domain", "url", "email")


class PlaybookRun(Base):
    """One run of one playbook version, started by one event (or by hand)."""

    __tablename__ = "playbook_runs"
    __table_args__ = (
        UniqueConstraint("playbook", "version", "event_seq", name="uq_playbook_runs_event"),
        Index("ix_playbook_runs_status_wake_at", "status", "wake_at"),
        Index("ix_playbook_runs_playbook_status", "playbook", "status"),
        Index("ix_playbook_runs_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    playbook: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    event_seq: Mapped[int | None] = mapped_column(BigInteger)
    event: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    vars: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    case_id: Mapped[str | None] = mapped_column(String(36))
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    wake_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PlaybookStep(Base):
    """Where one step of a run stands; ``path`` names it inside loops (``each_ip[2].block``)."""

    __tablename__ = "playbook_steps"
    __table_args__ = (UniqueConstraint("run_id", "path", name="uq_playbook_steps_run_path"),)

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey(PlaybookRun.id, ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))
    publish: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(600))
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    output: Mapped[Any | None] = mapped_column(JSONValue)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    wake_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PlaybookApproval(Base):
    """A request for agreement made by an approval step: quorum of roles or named users."""

    __tablename__ = "playbook_approvals"
    __table_args__ = (Index("ix_playbook_approvals_status_expires_at", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey(PlaybookRun.id, ondelete="CASCADE"))
    step_path: Mapped[str] = mapped_column(String(500))
    quorum: Mapped[int] = mapped_column(Integer)
    roles: Mapped[list[str]] = mapped_column(JSONValue)
    users: Mapped[list[str]] = mapped_column(JSONValue)
    escalate_to: Mapped[list[str]] = mapped_column(JSONValue)
    prompt: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ttl_seconds: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    escalated: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApprovalVote(Base):
    """One person's vote on an approval (one per person)."""

    __tablename__ = "playbook_approval_votes"
    __table_args__ = (
        UniqueConstraint("approval_id", "user", name="uq_playbook_approval_votes_user"),
    )

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    approval_id: Mapped[str] = mapped_column(ForeignKey(PlaybookApproval.id, ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActionReceipt(Base):
    """Proof that the side effect under ``key`` happened, with its result."""

    __tablename__ = "action_receipts"

    key: Mapped[str] = mapped_column(String(600), primary_key=True)
    action: Mapped[str] = mapped_column(String(100))
    result: Mapped[Any] = mapped_column(JSONValue)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class BlockEntry(Base):
    """A value the node asks its network to block (exported as RPZ, plain lists, iptables)."""

    __tablename__ = "respond_blocklist"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_respond_blocklist_kind_value"),)

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(2000))
    reason: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(36))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
