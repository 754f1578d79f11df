"""Record ids of any length: the `record_id` of record_versions, flags and drw_links is text.

REDCap sets no length on a record name; a 150-character id overflowed varchar(100) on
PostgreSQL. SQLite never enforces a declared length (and rebuilding these tables there
would trip their foreign keys), so only PostgreSQL is altered; rows stay as they are.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = ("record_versions", "flags", "drw_links")


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        return
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("record_id", type_=sa.Text(), existing_type=sa.String(100),
                               existing_nullable=False)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        return
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("record_id", type_=sa.String(100), existing_type=sa.Text(),
                               existing_nullable=False)
