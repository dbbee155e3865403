"""Evidence: retention and disposal requests with their approvals.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_disposals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", TIME, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("disposed_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["evidence_items.id"],
            name=op.f("fk_evidence_disposals_item_id_evidence_items"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_disposals")),
    )
    op.create_index("ix_evidence_disposals_item_id", "evidence_disposals", ["item_id"])
    op.create_table(
        "evidence_disposal_approvals",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["evidence_disposals.id"],
            name=op.f("fk_evidence_disposal_approvals_request_id_evidence_disposals"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_disposal_approvals")),
        sa.UniqueConstraint(
            "request_id", "approver", name="uq_evidence_disposal_approvals_approver"
        ),
    )


def downgrade() -> None:
    op.drop_table("evidence_disposal_approvals")
    op.drop_index("ix_evidence_disposals_item_id", table_name="evidence_disposals")
    op.drop_table("evidence_disposals")
