"""Response: cases, tasks, observables, notes, links, alerts merged into cases.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "case_campaigns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_case_campaigns_name")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        sa.Column("pap", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("disposition", sa.String(length=20), nullable=True),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("campaign_id", sa.String(length=36), nullable=True),
        sa.Column("template", sa.String(length=100), nullable=True),
        sa.Column("escalation_id", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("closed_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["cases.id"], name=op.f("fk_cases_parent_id_cases"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["case_campaigns.id"],
            name=op.f("fk_cases_campaign_id_case_campaigns"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("number", name=op.f("uq_cases_number")),
        sa.UniqueConstraint("escalation_id", name=op.f("uq_cases_escalation_id")),
    )
    op.create_index("ix_cases_status_updated_at", "cases", ["status", "updated_at"])
    op.create_index("ix_cases_parent_id", "cases", ["parent_id"])
    op.create_index("ix_cases_campaign_id", "cases", ["campaign_id"])
    op.create_index("ix_cases_assignee", "cases", ["assignee"])
    op.create_table(
        "case_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("due_at", TIME, nullable=True),
        sa.Column("completed_by", sa.String(length=200), nullable=True),
        sa.Column("completed_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_tasks_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_tasks")),
    )
    op.create_index(op.f("ix_case_tasks_case_id"), "case_tasks", ["case_id"])
    op.create_table(
        "case_observables",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=2000), nullable=False),
        sa.Column("ioc", sa.Boolean(), nullable=False),
        sa.Column("tlp", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_observables_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_observables")),
        sa.UniqueConstraint("case_id", "kind", "value", name=op.f("uq_case_observables_case_id")),
    )
    op.create_index("ix_case_observables_kind_value", "case_observables", ["kind", "value"])
    op.create_table(
        "case_notes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    op.create_index(op.f("ix_case_notes_case_id"), "case_notes", ["case_id"])
    op.create_table(
        "case_alerts",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("linked_by", sa.String(length=200), nullable=False),
        sa.Column("linked_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_alerts_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["detect_alerts.id"],
            name=op.f("fk_case_alerts_alert_id_detect_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "alert_id", name=op.f("pk_case_alerts")),
    )
    op.create_index(op.f("ix_case_alerts_alert_id"), "case_alerts", ["alert_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_alerts_alert_id"), table_name="case_alerts")
    op.drop_table("case_alerts")
    op.drop_index(op.f("ix_case_notes_case_id"), table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_index("ix_case_observables_kind_value", table_name="case_observables")
    op.drop_table("case_observables")
    op.drop_index(op.f("ix_case_tasks_case_id"), table_name="case_tasks")
    op.drop_table("case_tasks")
    op.drop_index("ix_cases_assignee", table_name="cases")
    op.drop_index("ix_cases_campaign_id", table_name="cases")
    op.drop_index("ix_cases_parent_id", table_name="cases")
    op.drop_index("ix_cases_status_updated_at", table_name="cases")
    op.drop_table("cases")
    op.drop_table("case_campaigns")
