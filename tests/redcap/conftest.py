"""Fixtures for the pull tests: a small synthetic registry served by the sandbox."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry.sandbox.clock import ManualClock
from registry.sandbox.generator import GeneratorParams, generate
from registry.sandbox.server import SandboxServer


@pytest.fixture(scope="session")
def small_registry():
    """120 patients over 3 DAG sites (about 650 flat rows), fixed seed."""
    return generate(GeneratorParams(seed=7, patients=120, sites=3))


@pytest.fixture
def served(small_registry) -> Iterator[SandboxServer]:
    """The registry on a fresh sandbox whose clock starts an hour after its data was
    entered (more than the pull's overlap, so an incremental pull sees only new edits)."""
    clock = ManualClock("2025-07-01 02:00:00")
    with SandboxServer(small_registry, clock=clock) as server:
        clock.advance(hours=1)
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def pull_store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty store: a SQLite file, or a fresh PostgreSQL schema (REGISTRY_TEST_PG_URL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    base = os.environ.get("REGISTRY_TEST_PG_URL")
    if not base:
        pytest.skip("REGISTRY_TEST_PG_URL is not set: the PostgreSQL pull test is skipped "
                    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema = f"pull_{uuid.uuid4().hex[:12]}"
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
