"""Flags carry the event of a longitudinal project ("" on a classic one).

A flag's identity is (site, record, event, form, instance, field, rule): the same
field on the same form of two events is two flags. Existing flags are classic ones
and get "".

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flags") as batch:
        batch.add_column(sa.Column("event", sa.String(100), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("flags") as batch:
        batch.drop_column("event")
