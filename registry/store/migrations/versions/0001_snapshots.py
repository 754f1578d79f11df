"""Snapshots: deduplicated record versions and dictionaries, snapshots as sets of versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dictionaries",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("first_seen", _When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dictionaries"),
        sa.UniqueConstraint("hash", name="uq_dictionaries_hash"),
    )
    op.create_table(
        "record_versions",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("site", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(100), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("first_seen", _When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_record_versions"),
        sa.UniqueConstraint("site", "hash", "record_id",
                            name="uq_record_versions_site_hash_record_id"),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("site", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", _When, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("base_snapshot_id", sa.Integer, nullable=True),
        sa.Column("n_records", sa.Integer, nullable=False),
        sa.Column("n_added", sa.Integer, nullable=False),
        sa.Column("n_changed", sa.Integer, nullable=False),
        sa.Column("n_deleted", sa.Integer, nullable=False),
        sa.Column("dictionary_id", sa.Integer, nullable=True),
        sa.Column("columns", sa.JSON, nullable=False),
        sa.Column("project_info", sa.JSON, nullable=True),
        sa.Column("dictionary_changes", sa.JSON, nullable=True),
        sa.Column("details", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
        sa.ForeignKeyConstraint(["base_snapshot_id"], ["snapshots.id"],
                                name="fk_snapshots_base_snapshot_id_snapshots"),
        sa.ForeignKeyConstraint(["dictionary_id"], ["dictionaries.id"],
                                name="fk_snapshots_dictionary_id_dictionaries"),
    )
    op.create_index("ix_snapshots_site_created_at", "snapshots", ["site", "created_at"])
    op.create_table(
        "snapshot_records",
        sa.Column("snapshot_id", sa.Integer, nullable=False),
        sa.Column("record_version_id", _BigId, nullable=False),
        sa.PrimaryKeyConstraint("snapshot_id", "record_version_id", name="pk_snapshot_records"),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshots.id"],
                                name="fk_snapshot_records_snapshot_id_snapshots"),
        sa.ForeignKeyConstraint(["record_version_id"], ["record_versions.id"],
                                name="fk_snapshot_records_record_version_id_record_versions"),
    )


def downgrade() -> None:
    op.drop_table("snapshot_records")
    op.drop_index("ix_snapshots_site_created_at", table_name="snapshots")
    op.drop_table("snapshots")
    op.drop_table("record_versions")
    op.drop_table("dictionaries")
