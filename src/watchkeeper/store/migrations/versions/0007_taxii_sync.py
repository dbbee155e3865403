"""TAXII status resources and sync links with partner collections.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "federation_taxii_status",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("community", sa.String(length=20), nullable=False),
        sa.Column("collection_id", sa.String(length=36), nullable=False),
        sa.Column("requester", sa.String(length=200), nullable=False),
        sa.Column("import_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("request_timestamp", sa.String(length=32), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("pending_count", sa.Integer(), nullable=False),
        sa.Column("successes", JSON, nullable=False),
        sa.Column("failures", JSON, nullable=False),
        sa.Column("pendings", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_taxii_status")),
    )
    op.create_table(
        "federation_sync",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("peer", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("collection_url", sa.String(length=500), nullable=False),
        sa.Column("local_collection", sa.String(length=36), nullable=True),
        sa.Column("cursor", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("auth", JSON, nullable=True),
        sa.Column("last_report", JSON, nullable=True),
        sa.Column("runner", sa.String(length=36), nullable=True),
        sa.Column("running_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["peer"], ["peers.code"], name=op.f("fk_federation_sync_peer_peers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_sync")),
        sa.UniqueConstraint(
            "peer", "direction", "collection_url", name=op.f("uq_federation_sync_peer")
        ),
    )
    op.create_index(op.f("ix_federation_sync_peer"), "federation_sync", ["peer"])


def downgrade() -> None:
    op.drop_index(op.f("ix_federation_sync_peer"), table_name="federation_sync")
    op.drop_table("federation_sync")
    op.drop_table("federation_taxii_status")
