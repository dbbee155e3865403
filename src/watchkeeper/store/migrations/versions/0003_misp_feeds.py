"""MISP feeds: the manifest timestamp of each event last read, per feed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intel_misp_feed_events",
        sa.Column("feed", sa.String(length=200), nullable=False),
        sa.Column("event_uuid", sa.String(length=36), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("import_id", sa.String(length=36), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feed", "event_uuid", name=op.f("pk_intel_misp_feed_events")),
    )


def downgrade() -> None:
    op.drop_table("intel_misp_feed_events")
