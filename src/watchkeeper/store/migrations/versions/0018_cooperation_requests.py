"""Cooperation: requests, their timeline and the duty roster.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "coop_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("thread", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("instrument", sa.String(length=40), nullable=False),
        sa.Column("requesting_state", sa.String(length=2), nullable=False),
        sa.Column("requested_state", sa.String(length=2), nullable=False),
        sa.Column("peer", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("contents", JSON, nullable=False),
        sa.Column("offence", JSON, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("period", JSON, nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("no_user_notice", sa.Boolean(), nullable=False),
        sa.Column("use_limits", JSON, nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("evidence_ids", JSON, nullable=False),
        sa.Column("indicator_ids", JSON, nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=True),
        sa.Column("screen", JSON, nullable=True),
        sa.Column("decision", JSON, nullable=True),
        sa.Column("consultations", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("acked_at", TIME, nullable=True),
        sa.Column("acked_by", sa.String(length=200), nullable=True),
        sa.Column("ack_due_at", TIME, nullable=True),
        sa.Column("preserved_at", TIME, nullable=True),
        sa.Column("preserved_until", TIME, nullable=True),
        sa.Column("order_expires_at", TIME, nullable=True),
        sa.Column("follow_up_due_at", TIME, nullable=True),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("alarms", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coop_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_coop_requests_reference")),
    )
    op.create_index(
        "ix_coop_requests_direction_created",
        "coop_requests",
        ["direction", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_coop_requests_inbox",
        "coop_requests",
        ["direction", "acked_at", "ack_due_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_coop_requests_parent_id"), "coop_requests", ["parent_id"], unique=False
    )
    op.create_index("ix_coop_requests_thread", "coop_requests", ["thread"], unique=False)
    op.create_table(
        "coop_roster",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("person", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("starts_at", TIME, nullable=False),
        sa.Column("ends_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coop_roster")),
    )
    op.create_index("ix_coop_roster_period", "coop_roster", ["starts_at", "ends_at"], unique=False)
    op.create_table(
        "coop_request_events",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("from_status", sa.String(length=40), nullable=True),
        sa.Column("to_status", sa.String(length=40), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["coop_requests.id"],
            name=op.f("fk_coop_request_events_request_id_coop_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coop_request_events")),
    )
    op.create_index(
        op.f("ix_coop_request_events_request_id"),
        "coop_request_events",
        ["request_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("coop_request_events")
    op.drop_table("coop_roster")
    op.drop_table("coop_requests")
