"""Cooperation: indexes on the deadline columns (after the direction), so the soonest
deadlines are read first; the inbox index also covers the status, so counting the requests
in hand reads no table rows.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

COLUMNS = ("preserved_until", "order_expires_at", "follow_up_due_at", "sent_at")


def upgrade() -> None:
    op.drop_index("ix_coop_requests_inbox", table_name="coop_requests")
    op.create_index(
        "ix_coop_requests_inbox",
        "coop_requests",
        ["direction", "acked_at", "ack_due_at", "status"],
    )
    for column in COLUMNS:
        op.create_index(f"ix_coop_requests_{column}", "coop_requests", ["direction", column])


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_coop_requests_{column}", table_name="coop_requests")
    op.drop_index("ix_coop_requests_inbox", table_name="coop_requests")
    op.create_index(
        "ix_coop_requests_inbox", "coop_requests", ["direction", "acked_at", "ack_due_at"]
    )
