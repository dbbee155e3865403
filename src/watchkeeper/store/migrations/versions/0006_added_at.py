"""When each stored STIX version was added (TAXII ``date_added``).

Versions stored before this revision take the start of the earliest import that delivered
them, the closest record of their arrival.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EPOCH = "1970-01-01T00:00:00.000000Z"


def _stamp(value: object) -> str:
    if isinstance(value, str):  # SQLite returns the stored text of a MIN()
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return EPOCH
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def upgrade() -> None:
    op.add_column("intel_objects", sa.Column("added_at", sa.String(length=32), nullable=True))
    connection = op.get_bind()
    arrivals = connection.execute(
        sa.text(
            "SELECT p.object_seq, MIN(i.started_at) FROM intel_provenance p "
            "JOIN intel_imports i ON i.id = p.import_id GROUP BY p.object_seq"
        )
    ).all()
    if arrivals:
        connection.execute(
            sa.text("UPDATE intel_objects SET added_at = :added WHERE seq = :seq"),
            [{"seq": seq, "added": _stamp(started)} for seq, started in arrivals],
        )
    connection.execute(
        sa.text("UPDATE intel_objects SET added_at = :epoch WHERE added_at IS NULL"),
        {"epoch": EPOCH},
    )
    with op.batch_alter_table("intel_objects") as batch:
        batch.alter_column("added_at", existing_type=sa.String(length=32), nullable=False)
    op.create_index("ix_intel_objects_added_at", "intel_objects", ["added_at"])


def downgrade() -> None:
    op.drop_index("ix_intel_objects_added_at", table_name="intel_objects")
    with op.batch_alter_table("intel_objects") as batch:
        batch.drop_column("added_at")
