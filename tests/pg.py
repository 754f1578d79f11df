"""Store URLs for tests that run on SQLite and on PostgreSQL (REGISTRY_TEST_PG_URL).

Each PostgreSQL test gets its own schema (a random name, dropped afterwards) through
the connection's `search_path`, so `pytest -n 2` runs never collide. Without
REGISTRY_TEST_PG_URL the PostgreSQL variant is skipped with a reason saying what to set.

    @pytest.fixture(params=STORE_BACKENDS)
    def store_url(request, tmp_path):
        with store_url_for(request.param, tmp_path / "store.sqlite", "t", "store tests") as url:
            yield url
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

__all__ = ["PG_URL_ENV", "STORE_BACKENDS", "pg_schema_url", "store_url_for"]

PG_URL_ENV = "REGISTRY_TEST_PG_URL"

#: Fixture params: a SQLite file, and PostgreSQL (marked `postgres`).
STORE_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def pg_schema_url(prefix: str, what: str) -> Iterator[str]:
    """A URL of a fresh, empty PostgreSQL schema, dropped on exit; skips `what` if unset."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set: PostgreSQL {what} skipped "
                    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def store_url_for(backend: str, sqlite_file: Path, prefix: str, what: str) -> Iterator[str]:
    """An empty store's URL: `sqlite_file` for "sqlite", else a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    with pg_schema_url(prefix, what) as url:
        yield url
