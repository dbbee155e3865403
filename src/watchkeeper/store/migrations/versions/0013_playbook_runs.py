"""Response: playbook runs, steps, approvals, actions' idempotency.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "playbook_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("playbook", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("event_seq", sa.BigInteger(), nullable=True),
        sa.Column("event", JSON, nullable=False),
        sa.Column("vars", JSON, nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("deadline_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("wake_at", TIME, nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_runs")),
        sa.UniqueConstraint("playbook", "version", "event_seq", name="uq_playbook_runs_event"),
    )
    op.create_index("ix_playbook_runs_status_wake_at", "playbook_runs", ["status", "wake_at"])
    op.create_index("ix_playbook_runs_playbook_status", "playbook_runs", ["playbook", "status"])
    op.create_index("ix_playbook_runs_created_at", "playbook_runs", ["created_at"])
    op.create_table(
        "playbook_steps",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("publish", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=600), nullable=False),
        sa.Column("inputs", JSON, nullable=True),
        sa.Column("output", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("wake_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["playbook_runs.id"],
            name=op.f("fk_playbook_steps_run_id_playbook_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_steps")),
        sa.UniqueConstraint("run_id", "path", name="uq_playbook_steps_run_path"),
    )
    op.create_table(
        "playbook_approvals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("step_path", sa.String(length=500), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("roles", JSON, nullable=False),
        sa.Column("users", JSON, nullable=False),
        sa.Column("escalate_to", JSON, nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("ttl_seconds", sa.Float(), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["playbook_runs.id"],
            name=op.f("fk_playbook_approvals_run_id_playbook_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_approvals")),
    )
    op.create_index(
        "ix_playbook_approvals_status_expires_at", "playbook_approvals", ["status", "expires_at"]
    )
    op.create_table(
        "playbook_approval_votes",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("approval_id", sa.String(length=36), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["playbook_approvals.id"],
            name=op.f("fk_playbook_approval_votes_approval_id_playbook_approvals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_approval_votes")),
        sa.UniqueConstraint("approval_id", "user", name="uq_playbook_approval_votes_user"),
    )
    op.create_table(
        "action_receipts",
        sa.Column("key", sa.String(length=600), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_action_receipts")),
    )
    op.create_table(
        "respond_blocklist",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=2000), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("added_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_respond_blocklist")),
        sa.UniqueConstraint("kind", "value", name="uq_respond_blocklist_kind_value"),
    )


def downgrade() -> None:
    op.drop_table("respond_blocklist")
    op.drop_table("action_receipts")
    op.drop_table("playbook_approval_votes")
    op.drop_index("ix_playbook_approvals_status_expires_at", table_name="playbook_approvals")
    op.drop_table("playbook_approvals")
    op.drop_table("playbook_steps")
    op.drop_index("ix_playbook_runs_created_at", table_name="playbook_runs")
    op.drop_index("ix_playbook_runs_playbook_status", table_name="playbook_runs")
    op.drop_index("ix_playbook_runs_status_wake_at", table_name="playbook_runs")
    op.drop_table("playbook_runs")
