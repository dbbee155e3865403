"""Cooperation: when the written confirmation of an oral request is due (Art 40(14)).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "coop_requests", sa.Column("confirm_due_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_coop_requests_confirm_due_at", "coop_requests", ["direction", "confirm_due_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_coop_requests_confirm_due_at", table_name="coop_requests")
    op.drop_column("coop_requests", "confirm_due_at")
