"""The flag <-> DRW query mapping (`registry.store.drw`): one row per flag that has a
query in REDCap's Data Resolution Workflow, kept across runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drw_links",
        sa.Column("site", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(100), nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("form", sa.String(100), nullable=False),
        sa.Column("instance", sa.String(20), nullable=False),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("status_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("accepted_value", sa.String(64), nullable=True),
        sa.Column("last_ts", sa.String(19), nullable=True),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", "record_id", "event", "form", "instance", "field",
                                "rule_id", name="pk_drw_links"),
    )


def downgrade() -> None:
    op.drop_table("drw_links")
