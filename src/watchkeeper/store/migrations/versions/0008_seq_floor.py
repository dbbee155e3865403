"""The floor of the object sequence, so that deleted numbers are never handed out again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intel_seq_floor",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_intel_seq_floor")),
    )


def downgrade() -> None:
    op.drop_table("intel_seq_floor")
