"""Fixtures for the pull tests: a small synthetic registry served by the sandbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from registry.redcap.client import RedcapClient
from registry.sandbox.clock import ManualClock
from registry.sandbox.generator import GeneratorParams, generate
from registry.sandbox.server import SandboxServer
from tests.pg import STORE_BACKENDS, store_url_for


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


@pytest.fixture(params=STORE_BACKENDS)
def pull_store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty store: a SQLite file, or a fresh PostgreSQL schema (REGISTRY_TEST_PG_URL)."""
    with store_url_for(request.param, tmp_path / "store.sqlite", "pull", "pull tests") as url:
        yield url


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """The client's calls by kind (`RedcapClient._call`: one HTTP request each, retries
    aside), counted while the test runs."""
    seen: Counter = Counter()
    original = RedcapClient._call

    def counted(self, what, fn, **kwargs):
        seen[what] += 1
        return original(self, what, fn, **kwargs)

    monkeypatch.setattr(RedcapClient, "_call", counted)
    return seen
