"""Alembic environment for the registry store, run programmatically by `registry.store`.

`registry.store.migrate.upgrade` hands over an open connection (already inside the
transaction that will hold the whole upgrade) through `config.attributes["connection"]`;
nothing here reads alembic.ini or configures logging.
"""

from __future__ import annotations

from alembic import context

from registry.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by running alembic by hand
    raise RuntimeError("run migrations through registry.store (Store.open), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things: let Alembic copy tables instead
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
