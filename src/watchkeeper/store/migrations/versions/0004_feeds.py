"""Feeds registry: the declarative definition of each named feed and its last pull.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "intel_feeds",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_import_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_intel_feeds")),
    )


def downgrade() -> None:
    op.drop_table("intel_feeds")
