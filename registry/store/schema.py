"""The store's tables (SQLAlchemy Core), as they stand at the newest migration.

The migrations in `migrations/versions/` build this schema step by step; a test checks
that upgrading an empty database to head gives exactly these tables.

Snapshots share record versions: `record_versions` keeps each distinct content of a
record once (keyed by a SHA-256 of its rows), and a snapshot is the set of versions it
holds (`snapshot_records`). A year of nightly pulls where few records change adds one
row per record per night to `snapshot_records` and a version only for what changed.
There is no column for an API token anywhere, on purpose.

Text that comes from the data (record ids, flag messages, rule details, error
messages) is `SafeText`: PostgreSQL refuses a NUL character in any text value, so it
is stored as a reversible escape (NUL -> U+E000 "0", U+E000 -> U+E000 "e") and read
back as it was, on both stores. Record ids are unbounded text (REDCap sets no limit).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

__all__ = [
    "SafeString",
    "SafeText",
    "analysis_results",
    "deliveries",
    "dictionaries",
    "drw_links",
    "flag_sets",
    "flags",
    "metadata",
    "record_versions",
    "rule_results",
    "run_snapshots",
    "run_stages",
    "runs",
    "snapshot_records",
    "snapshots",
]

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# A 64-bit id that SQLite still treats as its rowid (auto-increment).
_BigId = BigInteger().with_variant(Integer(), "sqlite")
_When = DateTime(timezone=True)

_ESC = "\ue000"
_UNESCAPE = re.compile(_ESC + "(.)", re.DOTALL)


def escape_nul(value: str) -> str:
    """`value` without NUL characters, reversibly (`unescape_nul`)."""
    if "\x00" not in value and _ESC not in value:
        return value
    return value.replace(_ESC, _ESC + "e").replace("\x00", _ESC + "0")


def unescape_nul(value: str) -> str:
    if _ESC not in value:
        return value
    return _UNESCAPE.sub(lambda m: "\x00" if m.group(1) == "0" else _ESC, value)


class SafeText(TypeDecorator[str]):
    """Text stored faithfully on PostgreSQL too, NUL characters included."""

    impl: Any = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return escape_nul(value) if isinstance(value, str) else value

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return unescape_nul(value) if isinstance(value, str) else value


class SafeString(SafeText):
    """`SafeText` with the length of a `String(n)` column (names from the dictionary)."""

    impl = String
    cache_ok = True


#: A record id: unbounded text on PostgreSQL (0006 widened varchar(100)); SQLite never
#: enforces a declared length, so its column keeps the declaration it was created with.
_RecordId = SafeText().with_variant(SafeString(100), "sqlite")


# --- snapshots (revision 0001) -----------------------------------------------------------

dictionaries = Table(
    "dictionaries", metadata,
    Column("id", Integer, primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("payload", Text, nullable=False),          # JSON list of REDCap metadata rows
    Column("first_seen", _When, nullable=False),
)

record_versions = Table(
    "record_versions", metadata,
    Column("id", _BigId, primary_key=True),
    Column("site", String(40), nullable=False),
    Column("record_id", _RecordId, nullable=False),             # text since 0006
    Column("hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),          # JSON list of rows, empty values left out
    Column("first_seen", _When, nullable=False),
    UniqueConstraint("site", "hash", "record_id"),
)

snapshots = Table(
    "snapshots", metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(40), nullable=False),
    Column("kind", String(20), nullable=False),       # full | incremental
    Column("created_at", _When, nullable=False),
    Column("status", String(20), nullable=False),     # complete
    Column("base_snapshot_id", Integer, ForeignKey("snapshots.id"), nullable=True),
    Column("n_records", Integer, nullable=False),
    Column("n_added", Integer, nullable=False),
    Column("n_changed", Integer, nullable=False),
    Column("n_deleted", Integer, nullable=False),
    Column("dictionary_id", Integer, ForeignKey("dictionaries.id"), nullable=True),
    Column("columns", JSON, nullable=False),          # the export's column order
    Column("project_info", JSON, nullable=True),
    Column("dictionary_changes", JSON, nullable=True),
    Column("details", JSON, nullable=True),
    Index("ix_snapshots_site_created_at", "site", "created_at"),
)

snapshot_records = Table(
    "snapshot_records", metadata,
    Column("snapshot_id", Integer, ForeignKey("snapshots.id"), nullable=False),
    Column("record_version_id", _BigId, ForeignKey("record_versions.id"), nullable=False),
    PrimaryKeyConstraint("snapshot_id", "record_version_id"),
)

# --- runs and what the stages keep (revision 0002) ----------------------------------------

runs = Table(
    "runs", metadata,
    Column("id", String(40), primary_key=True),        # 20261125-021500-ab12: sorts by time
    Column("kind", String(20), nullable=False),        # nightly | pull | validate | ...
    Column("started_at", _When, nullable=False),
    Column("ended_at", _When, nullable=True),
    Column("status", String(20), nullable=False),      # running | succeeded | partial | failed
    Column("exit_code", Integer, nullable=True),
    Column("message", SafeText, nullable=True),
)

run_stages = Table(
    "run_stages", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False),
    Column("stage", String(40), nullable=False),
    Column("site", String(40), nullable=True),         # NULL: the stage as a whole
    Column("status", String(20), nullable=False),
    Column("started_at", _When, nullable=True),
    Column("ended_at", _When, nullable=True),
    Column("counts", JSON, nullable=True),
    Column("message", SafeText, nullable=True),
    Index("ix_run_stages_run_id", "run_id"),
    Index("ix_run_stages_stage_site", "stage", "site"),
)

run_snapshots = Table(
    "run_snapshots", metadata,
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False),
    Column("site", String(40), nullable=False),
    Column("snapshot_id", Integer, ForeignKey("snapshots.id"), nullable=False),
    Column("fresh", Boolean, nullable=False),
    PrimaryKeyConstraint("run_id", "site"),
)

flag_sets = Table(
    "flag_sets", metadata,                              # "flags were saved for this run+site"
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False),
    Column("site", String(40), nullable=False),
    Column("snapshot_id", Integer, ForeignKey("snapshots.id"), nullable=True),
    Column("saved_at", _When, nullable=False),
    Column("n_flags", Integer, nullable=False),
    PrimaryKeyConstraint("run_id", "site"),
)

flags = Table(
    "flags", metadata,
    Column("id", _BigId, primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False),
    Column("site", String(40), nullable=False),
    Column("snapshot_id", Integer, ForeignKey("snapshots.id"), nullable=True),
    Column("record_id", _RecordId, nullable=False),  # text since 0006
    Column("event", SafeString(100), nullable=False, server_default=""),  # "" classic (0003)
    Column("form", SafeString(100), nullable=False),
    Column("instance", Integer, nullable=True),        # NULL for a non-repeating form
    Column("field", SafeString(100), nullable=False),
    Column("rule_id", SafeString(100), nullable=False),
    Column("severity", String(20), nullable=False),    # blocking | warning
    Column("status", String(20), nullable=False),      # new | open | resolved | reopened
    Column("first_seen", _When, nullable=False),
    Column("last_seen", _When, nullable=False),
    Column("message", SafeText, nullable=False),
    Column("link", SafeText, nullable=False),
    Column("details", JSON, nullable=True),
    Index("ix_flags_run_id_site", "run_id", "site"),
    Index("ix_flags_site_status", "site", "status"),
)

rule_results = Table(
    "rule_results", metadata,
    Column("id", _BigId, primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False),
    Column("site", String(40), nullable=False),
    Column("rule_id", SafeString(100), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("checked", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("percent", Float, nullable=True),
    Column("status", String(20), nullable=False),      # passed | failed | not_applicable | error
    Column("detail", SafeText, nullable=True),
    Index("ix_rule_results_run_id_site", "run_id", "site"),
    Index("ix_rule_results_site_rule_id", "site", "rule_id"),
)

analysis_results = Table(
    "analysis_results", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False),
    Column("study", String(100), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("created_at", _When, nullable=False),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("run_id", "study", "kind"),
)

# --- deliveries (revision 0005) -----------------------------------------------------------

deliveries = Table(
    "deliveries", metadata,                             # one row per recipient per attempt
    Column("id", Integer, primary_key=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False),
    Column("kind", String(20), nullable=False),        # site | study
    Column("target", String(100), nullable=False),     # the site or study name
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("status", String(20), nullable=False),      # sent | failed | skipped
    Column("attempts", Integer, nullable=False),
    Column("reason", Text, nullable=True),             # one line; never a password
    Column("files", JSON, nullable=True),              # attachment names
    Column("at", _When, nullable=False),
    Index("ix_deliveries_run_id", "run_id"),
)

# --- the flag <-> DRW query mapping (revision 0004, registry.store.drw) -------------------

drw_links = Table(
    "drw_links", metadata,
    Column("site", String(40), nullable=False),
    Column("record_id", _RecordId, nullable=False),  # text since 0006
    Column("event", String(100), nullable=False),
    Column("form", String(100), nullable=False),
    Column("instance", String(20), nullable=False),    # "" for a non-repeating form
    Column("field", String(100), nullable=False),
    Column("rule_id", String(100), nullable=False),
    Column("status_id", Integer, nullable=False),      # REDCap's query (one per cell)
    Column("state", String(20), nullable=False),       # open | closed | accepted
    Column("accepted_value", String(64), nullable=True),
    Column("last_ts", String(19), nullable=True),
    Column("run_id", String(40), nullable=True),
    Column("updated_at", _When, nullable=False),
    PrimaryKeyConstraint("site", "record_id", "event", "form", "instance", "field",
                         "rule_id"),
)
