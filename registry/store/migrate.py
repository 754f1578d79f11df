"""Bring a store's schema to the newest revision, programmatically, at open.

The whole upgrade runs in one transaction (PostgreSQL and SQLite both have transactional
DDL), so a crash mid-upgrade leaves the store at its old revision. On PostgreSQL an
advisory lock stops two processes from upgrading the same schema at once; on SQLite
the write transaction (`BEGIN IMMEDIATE`) does the same.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from registry.errors import StoreError
from registry.store.engine import describe_url, store_errors, write_transaction

__all__ = ["HEAD", "current_revision", "upgrade"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x52454749  # "REGI": one advisory lock id for store upgrades


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _head() -> str:
    heads = ScriptDirectory.from_config(_config()).get_heads()
    if len(heads) != 1:  # a packaging mistake, not a user error
        raise RuntimeError(f"store migrations have {len(heads)} heads: {heads}")
    return heads[0]


#: The newest schema revision this version of the code writes.
HEAD = _head()


def current_revision(conn: Connection) -> str | None:
    """The store's schema revision (None for an empty database)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> str | None:
    """Upgrade the store to `target` (default: newest); return the revision it was at."""
    script = ScriptDirectory.from_config(_config())
    if target == "head":  # the usual case: already current, so no write lock is needed
        with store_errors(engine, "open the store"), engine.connect() as conn:
            if current_revision(conn) == HEAD:
                return HEAD
    with write_transaction(engine, "open the store") as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        before = current_revision(conn)
        if before is not None and before not in {s.revision for s in script.walk_revisions()}:
            raise StoreError(
                f"store {describe_url(engine.url)} is at schema revision {before}, written by a "
                "newer version of registry; upgrade registry before using this store"
            )
        if before != HEAD or target != "head":
            command.upgrade(_config(conn), target)
    return before
