"""Federation: per-peer sharing settings, TAXII collections and rights, peer deliveries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "federation_sharing",
        sa.Column("peer", sa.String(length=40), nullable=False),
        sa.Column("community", sa.String(length=20), nullable=False),
        sa.Column("max_tlp", sa.String(length=20), nullable=False),
        sa.Column("need_to_know", sa.Boolean(), nullable=False),
        sa.Column("identity", sa.String(length=300), nullable=True),
        sa.Column("reshare", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer"],
            ["peers.code"],
            name=op.f("fk_federation_sharing_peer_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("peer", name=op.f("pk_federation_sharing")),
    )
    op.create_table(
        "federation_collections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("community", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("alias", sa.String(length=100), nullable=True),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_collections")),
        sa.UniqueConstraint("community", "alias", name=op.f("uq_federation_collections_community")),
    )
    op.create_table(
        "federation_rights",
        sa.Column("collection_id", sa.String(length=36), nullable=False),
        sa.Column("peer", sa.String(length=40), nullable=False),
        sa.Column("can_read", sa.Boolean(), nullable=False),
        sa.Column("can_write", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["federation_collections.id"],
            name=op.f("fk_federation_rights_collection_id_federation_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["peer"],
            ["peers.code"],
            name=op.f("fk_federation_rights_peer_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("collection_id", "peer", name=op.f("pk_federation_rights")),
    )
    op.create_index(
        op.f("ix_federation_rights_peer"),
        "federation_rights",
        ["peer"],
        unique=False,
    )
    op.create_table(
        "federation_receipts",
        sa.Column("import_id", sa.String(length=36), nullable=False),
        sa.Column("peer", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("reshare", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["intel_imports.id"],
            name=op.f("fk_federation_receipts_import_id_intel_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", name=op.f("pk_federation_receipts")),
    )


def downgrade() -> None:
    op.drop_table("federation_receipts")
    op.drop_index(op.f("ix_federation_rights_peer"), table_name="federation_rights")
    op.drop_table("federation_rights")
    op.drop_table("federation_collections")
    op.drop_table("federation_sharing")
