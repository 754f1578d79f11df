"""Runs with per-stage, per-site outcomes; flags; per-rule results; analysis results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                   name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("started_at", _When, nullable=False),
        sa.Column("ended_at", _When, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "run_stages",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("site", sa.String(40), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", _When, nullable=True),
        sa.Column("ended_at", _When, nullable=True),
        sa.Column("counts", sa.JSON, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_run_stages"),
        _fk("run_stages", "run_id", "runs"),
    )
    op.create_index("ix_run_stages_run_id", "run_stages", ["run_id"])
    op.create_index("ix_run_stages_stage_site", "run_stages", ["stage", "site"])
    op.create_table(
        "run_snapshots",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("site", sa.String(40), nullable=False),
        sa.Column("snapshot_id", sa.Integer, nullable=False),
        sa.Column("fresh", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "site", name="pk_run_snapshots"),
        _fk("run_snapshots", "run_id", "runs"),
        _fk("run_snapshots", "snapshot_id", "snapshots"),
    )
    op.create_table(
        "flag_sets",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("site", sa.String(40), nullable=False),
        sa.Column("snapshot_id", sa.Integer, nullable=True),
        sa.Column("saved_at", _When, nullable=False),
        sa.Column("n_flags", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "site", name="pk_flag_sets"),
        _fk("flag_sets", "run_id", "runs"),
        _fk("flag_sets", "snapshot_id", "snapshots"),
    )
    op.create_table(
        "flags",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("site", sa.String(40), nullable=False),
        sa.Column("snapshot_id", sa.Integer, nullable=True),
        sa.Column("record_id", sa.String(100), nullable=False),
        sa.Column("form", sa.String(100), nullable=False),
        sa.Column("instance", sa.Integer, nullable=True),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("first_seen", _When, nullable=False),
        sa.Column("last_seen", _When, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_flags"),
        _fk("flags", "run_id", "runs"),
        _fk("flags", "snapshot_id", "snapshots"),
    )
    op.create_index("ix_flags_run_id_site", "flags", ["run_id", "site"])
    op.create_index("ix_flags_site_status", "flags", ["site", "status"])
    op.create_table(
        "rule_results",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("site", sa.String(40), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("checked", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("percent", sa.Float, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rule_results"),
        _fk("rule_results", "run_id", "runs"),
    )
    op.create_index("ix_rule_results_run_id_site", "rule_results", ["run_id", "site"])
    op.create_index("ix_rule_results_site_rule_id", "rule_results", ["site", "rule_id"])
    op.create_table(
        "analysis_results",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("study", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("created_at", _When, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_analysis_results"),
        sa.UniqueConstraint("run_id", "study", "kind",
                            name="uq_analysis_results_run_id_study_kind"),
        _fk("analysis_results", "run_id", "runs"),
    )


def downgrade() -> None:
    op.drop_table("analysis_results")
    op.drop_index("ix_rule_results_site_rule_id", table_name="rule_results")
    op.drop_index("ix_rule_results_run_id_site", table_name="rule_results")
    op.drop_table("rule_results")
    op.drop_index("ix_flags_site_status", table_name="flags")
    op.drop_index("ix_flags_run_id_site", table_name="flags")
    op.drop_table("flags")
    op.drop_table("flag_sets")
    op.drop_table("run_snapshots")
    op.drop_index("ix_run_stages_stage_site", table_name="run_stages")
    op.drop_index("ix_run_stages_run_id", table_name="run_stages")
    op.drop_table("run_stages")
    op.drop_table("runs")
