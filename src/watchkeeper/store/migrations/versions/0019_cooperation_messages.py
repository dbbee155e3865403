"""Cooperation: signed messages between nodes (outbox and inbox).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "coop_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("seq", SEQ, nullable=False),
        sa.Column("peer", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("thread", sa.String(length=80), nullable=False),
        sa.Column("envelope", JSON, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("delivered_at", TIME, nullable=True),
        sa.Column("receipt", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", "direction", name=op.f("pk_coop_messages")),
    )
    op.create_index(
        "ix_coop_messages_due",
        "coop_messages",
        ["direction", "status", "next_attempt_at"],
    )
    op.create_index("ix_coop_messages_thread", "coop_messages", ["thread"])


def downgrade() -> None:
    op.drop_index("ix_coop_messages_thread", table_name="coop_messages")
    op.drop_index("ix_coop_messages_due", table_name="coop_messages")
    op.drop_table("coop_messages")
