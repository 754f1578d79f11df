"""Alembic migrations of the registry store (run at `Store.open`)."""
