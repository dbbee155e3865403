"""Evidence: sealed packages sent and received.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_packages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("peer_code", sa.String(length=40), nullable=False),
        sa.Column("peer_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("authority_ref", sa.String(length=200), nullable=True),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("exhibits", JSON, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", "direction", name=op.f("pk_evidence_packages")),
    )


def downgrade() -> None:
    op.drop_table("evidence_packages")
