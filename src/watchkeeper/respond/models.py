"""Tables of incident cases: the case, its campaign, tasks, observables, notes and alerts.

A case is numbered ``C-<year>-<serial>`` for people (phone calls, reports) and keyed by a uuid
for machines. Parent/child links and campaigns are plain columns on the case, so a case tree
or a campaign's cases are one indexed query. ``escalation_id`` remembers the
``detect.alert.escalate`` request a case was opened for: the subscriber opening cases from
escalations is idempotent through its unique constraint.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.detect.models import Alert
from watchkeeper.store import Base, UTCDateTime

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = (
    "new",
    "triage",
    "investigating",
    "contained",
    "eradicated",
    "recovered",
    "closed",
)
OPEN_STATUSES = STATUSES[:-1]
DISPOSITIONS = ("true-positive", "false-positive", "benign", "duplicate")
TASK_STATUSES = ("waiting", "in-progress", "completed", "cancelled")


class CaseCampaign(Base):
    """A named campaign grouping cases of one adversary operation across victims."""

    __tablename__ = "case_campaigns"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Case(Base):
    """One incident being handled: who, how bad, how far along, and how it ended."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_updated_at", "status", "updated_at"),
        Index("ix_cases_parent_id", "parent_id"),
        Index("ix_cases_campaign_id", "campaign_id"),
        Index("ix_cases_assignee", "assignee"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(10))
    tlp: Mapped[str] = mapped_column(String(20))
    pap: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    disposition: Mapped[str | None] = mapped_column(String(20))
    assignee: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    campaign_id: Mapped[str | None] = mapped_column(
        ForeignKey(CaseCampaign.id, ondelete="SET NULL")
    )
    template: Mapped[str | None] = mapped_column(String(100))
    escalation_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseTask(Base):
    """A step of the response, from the case template or added by hand."""

    __tablename__ = "case_tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey(Case.id, ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    assignee: Mapped[str | None] = mapped_column(String(200))
    mandatory: Mapped[bool] = mapped_column(Boolean)
    position: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseObservable(Base):
    """A normalised value seen in the case (address, domain, hash, host...)."""

    __tablename__ = "case_observables"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "value"),
        Index("ix_case_observables_kind_value", "kind", "value"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey(Case.id, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(2000))
    ioc: Mapped[bool] = mapped_column(Boolean)
    tlp: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseNote(Base):
    """Free text an analyst wrote on the case (findings, calls made, decisions)."""

    __tablename__ = "case_notes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey(Case.id, ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseAlert(Base):
    """An alert merged into a case (the alert's own ``case_id`` says the same, for detection)."""

    __tablename__ = "case_alerts"

    case_id: Mapped[str] = mapped_column(ForeignKey(Case.id, ondelete="CASCADE"), primary_key=True)
    alert_id: Mapped[str] = mapped_column(
        ForeignKey(Alert.id, ondelete="CASCADE"), primary_key=True, index=True
    )
    linked_by: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
