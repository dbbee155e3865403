"""Intelligence store: STIX object versions, extracted values, imports, provenance.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "intel_imports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("rejects", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intel_imports")),
    )
    op.create_table(
        "intel_objects",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("type", sa.String(length=250), nullable=False),
        sa.Column("modified", sa.String(length=32), nullable=False),
        sa.Column("created", sa.String(length=32), nullable=True),
        sa.Column("spec_version", sa.String(length=10), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("tlp", sa.String(length=20), nullable=True),
        sa.Column("matchable", sa.Boolean(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_intel_objects")),
        sa.UniqueConstraint("id", "modified", name=op.f("uq_intel_objects_id")),
    )
    op.create_index(
        "ix_intel_objects_type_current", "intel_objects", ["type", "current"], unique=False
    )
    op.create_table(
        "intel_provenance",
        sa.Column("object_seq", sa.BigInteger(), nullable=False),
        sa.Column("import_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["intel_imports.id"],
            name=op.f("fk_intel_provenance_import_id_intel_imports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["object_seq"],
            ["intel_objects.seq"],
            name=op.f("fk_intel_provenance_object_seq_intel_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("object_seq", "import_id", name=op.f("pk_intel_provenance")),
    )
    op.create_index(
        op.f("ix_intel_provenance_import_id"), "intel_provenance", ["import_id"], unique=False
    )
    op.create_table(
        "intel_values",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("object_seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("warninglists", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["object_seq"],
            ["intel_objects.seq"],
            name=op.f("fk_intel_values_object_seq_intel_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intel_values")),
    )
    op.create_index("ix_intel_values_kind_value", "intel_values", ["kind", "value"], unique=False)
    op.create_index(
        op.f("ix_intel_values_object_seq"), "intel_values", ["object_seq"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_intel_values_object_seq"), table_name="intel_values")
    op.drop_index("ix_intel_values_kind_value", table_name="intel_values")
    op.drop_table("intel_values")
    op.drop_index(op.f("ix_intel_provenance_import_id"), table_name="intel_provenance")
    op.drop_table("intel_provenance")
    op.drop_index("ix_intel_objects_type_current", table_name="intel_objects")
    op.drop_table("intel_objects")
    op.drop_table("intel_imports")
