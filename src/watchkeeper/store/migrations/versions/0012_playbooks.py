"""Response: playbook versions (draft, active, disabled).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "playbooks",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("version", sa.String(length=12), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("file", sa.String(length=1000), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("loaded_at", TIME, nullable=False),
        sa.Column("loaded_by", sa.String(length=200), nullable=False),
        sa.Column("activated_at", TIME, nullable=True),
        sa.Column("activated_by", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", TIME, nullable=True),
        sa.Column("disabled_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_playbooks")),
    )
    op.create_index("ix_playbooks_status", "playbooks", ["status"])


def downgrade() -> None:
    op.drop_index("ix_playbooks_status", table_name="playbooks")
    op.drop_table("playbooks")
