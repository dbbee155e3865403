"""Tables of disposal: a request to destroy an item's content, and the approvals it gathers.

The request and its approvals are kept after the content is gone: together with the item's
"dispose" custody event they are the record of who decided the destruction, and why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from watchkeeper.store import Base, SeqType, UTCDateTime

DISPOSAL_STATES = ("pending", "disposed")
APPROVALS_NEEDED = 2


class DisposalRequest(Base):
    """A request to dispose of one item; done when two other people have approved it."""

    __tablename__ = "evidence_disposals"
    __table_args__ = (Index("ix_evidence_disposals_item_id", "item_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    item_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("evidence_items.id", ondelete="RESTRICT")
    )
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    disposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DisposalApproval(Base):
    """One approver's yes; an approver counts once per request."""

    __tablename__ = "evidence_disposal_approvals"
    __table_args__ = (
        UniqueConstraint("request_id", "approver", name="uq_evidence_disposal_approvals_approver"),
    )

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("evidence_disposals.id", ondelete="RESTRICT")
    )
    approver: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
