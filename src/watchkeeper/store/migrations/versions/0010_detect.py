"""Detection: alerts and their matched lines, runs, known domains per organisation, cursors.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "detect_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=700), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.String(length=300), nullable=True),
        sa.Column("rule_id", sa.String(length=200), nullable=True),
        sa.Column("value", sa.String(length=2000), nullable=True),
        sa.Column("value_kind", sa.String(length=20), nullable=True),
        sa.Column("host", sa.String(length=300), nullable=False),
        sa.Column("organization", sa.String(length=200), nullable=False),
        sa.Column("window_start", TIME, nullable=False),
        sa.Column("first_seen", TIME, nullable=False),
        sa.Column("last_seen", TIME, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("retro", sa.Boolean(), nullable=False),
        sa.Column("tlp", sa.String(length=20), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detect_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_detect_alerts_key")),
    )
    op.create_index("ix_detect_alerts_status_last_seen", "detect_alerts", ["status", "last_seen"])
    op.create_index("ix_detect_alerts_kind", "detect_alerts", ["kind"])
    op.create_index("ix_detect_alerts_indicator_id", "detect_alerts", ["indicator_id"])
    op.create_table(
        "detect_alert_lines",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("line", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", TIME, nullable=True),
        sa.Column("field", sa.String(length=100), nullable=True),
        sa.Column("event", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["detect_alerts.id"],
            name=op.f("fk_detect_alert_lines_alert_id_detect_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detect_alert_lines")),
    )
    op.create_index(op.f("ix_detect_alert_lines_alert_id"), "detect_alert_lines", ["alert_id"])
    op.create_table(
        "detect_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("sources", JSON, nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("malformed", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detect_runs")),
    )
    op.create_index("ix_detect_runs_started_at", "detect_runs", ["started_at"])
    op.create_table(
        "detect_known_domains",
        sa.Column("organization", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=300), nullable=False),
        sa.Column("first_seen", TIME, nullable=False),
        sa.Column("last_seen", TIME, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization", "domain", name=op.f("pk_detect_known_domains")),
    )
    op.create_table(
        "detect_cursors",
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_detect_cursors")),
    )


def downgrade() -> None:
    op.drop_table("detect_cursors")
    op.drop_table("detect_known_domains")
    op.drop_index("ix_detect_runs_started_at", table_name="detect_runs")
    op.drop_table("detect_runs")
    op.drop_index(op.f("ix_detect_alert_lines_alert_id"), table_name="detect_alert_lines")
    op.drop_table("detect_alert_lines")
    op.drop_index("ix_detect_alerts_indicator_id", table_name="detect_alerts")
    op.drop_index("ix_detect_alerts_kind", table_name="detect_alerts")
    op.drop_index("ix_detect_alerts_status_last_seen", table_name="detect_alerts")
    op.drop_table("detect_alerts")
