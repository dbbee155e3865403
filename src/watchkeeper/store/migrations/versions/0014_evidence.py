"""Evidence: items, write-once content, hash-chained signed custody events.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("exhibit_number", sa.String(length=60), nullable=False),
        sa.Column("root_exhibit", sa.String(length=60), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("case_ref", sa.String(length=60), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=True),
        sa.Column("acquisition", JSON, nullable=False),
        sa.Column("legal", JSON, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("media_type", sa.String(length=200), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("blake3", sa.String(length=64), nullable=True),
        sa.Column("original_name", sa.String(length=1000), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("custody_head", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["evidence_items.id"],
            name=op.f("fk_evidence_items_parent_id_evidence_items"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_items")),
        sa.UniqueConstraint("exhibit_number", name=op.f("uq_evidence_items_exhibit_number")),
    )
    op.create_index("ix_evidence_items_case_ref", "evidence_items", ["case_ref"])
    op.create_index("ix_evidence_items_sha256", "evidence_items", ["sha256"])
    op.create_index("ix_evidence_items_parent_id", "evidence_items", ["parent_id"])
    op.create_table(
        "custody_events",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("authority_ref", sa.String(length=200), nullable=True),
        sa.Column("hash_before", sa.String(length=64), nullable=True),
        sa.Column("hash_after", sa.String(length=64), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("event_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["evidence_items.id"],
            name=op.f("fk_custody_events_item_id_evidence_items"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_events")),
        sa.UniqueConstraint("item_id", "seq", name="uq_custody_events_item_id_seq"),
    )


def downgrade() -> None:
    op.drop_table("custody_events")
    op.drop_index("ix_evidence_items_parent_id", table_name="evidence_items")
    op.drop_index("ix_evidence_items_sha256", table_name="evidence_items")
    op.drop_index("ix_evidence_items_case_ref", table_name="evidence_items")
    op.drop_table("evidence_items")
