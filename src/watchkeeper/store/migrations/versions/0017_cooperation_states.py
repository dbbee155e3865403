"""Cooperation: the states registry (parties, dates, authorities, languages).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "coop_states",
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("central_authority", sa.Text(), nullable=False),
        sa.Column("poc", sa.Text(), nullable=False),
        sa.Column("languages", JSON, nullable=False),
        sa.Column("reio", sa.Boolean(), nullable=False),
        sa.Column("instruments", JSON, nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_coop_states")),
    )


def downgrade() -> None:
    op.drop_table("coop_states")
