"""Shared fixtures: sandbox REDCap servers on loopback, started and stopped per test.

`sandbox_factory(...)` starts a `SandboxServer` on a free port and stops it after the
test; it exposes `.url`, `.tokens` (`.project`, `["<dag>"]`), `.project`, `.faults`,
`.clock` and `.truth`. With no registry it serves the 4-record `mini_registry()`;
with generator parameters (`seed=`, `patients=`, ...) it serves `generate(...)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from registry.sandbox.clock import ManualClock
from registry.sandbox.server import SandboxServer
from tests.sandbox.mini import mini_registry

# Hypothesis: derandomized in CI (CI=true), so a run is repeatable and a failure found
# there is found again; random exploration on developers' machines.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                                 or ("ci" if os.environ.get("CI") else "dev"))

#: The time a test sandbox starts at (its generated records' creation time).
SANDBOX_START = "2025-01-06 09:00:00"

SandboxFactory = Callable[..., SandboxServer]


def _generated(params: dict[str, Any]) -> Any:
    from registry.sandbox.generator import GeneratorParams, generate

    return generate(GeneratorParams(**params))


def _factory(servers: list[SandboxServer]) -> SandboxFactory:
    def make(registry: Any = None, *, clock: Any = None, rate_limit: int = 0,
             **generator_params: Any) -> SandboxServer:
        if registry is None:
            registry = _generated(generator_params) if generator_params else mini_registry()
        server = SandboxServer(registry, clock=clock or ManualClock(SANDBOX_START),
                               rate_limit=rate_limit)
        servers.append(server.start())
        return server
    return make


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start sandboxes (ManualClock at SANDBOX_START unless `clock=`); stopped after the test."""
    servers: list[SandboxServer] = []
    yield _factory(servers)
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def module_sandbox_factory() -> Iterator[SandboxFactory]:
    """As `sandbox_factory`, shared by a module: only for tests that do not mutate."""
    servers: list[SandboxServer] = []
    yield _factory(servers)
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> SandboxServer:
    """A fresh mini-registry sandbox (safe to import into, delete from, fault)."""
    return sandbox_factory()


@pytest.fixture(scope="module")
def shared_sandbox(module_sandbox_factory: SandboxFactory) -> SandboxServer:
    """One mini-registry sandbox per module, for read-only tests."""
    return module_sandbox_factory()


#: The longest tests of `make test` (15-35 s each on the 2-core CI machine, 2026-12-04):
#: queued first, so that with `-n 2` neither worker is left running one of them at the
#: end while the other has nothing left to do.
LONGEST = ("tests/demo/test_demo.py::test_demo_runs",
           "tests/benchmarks/test_smoke.py::test_bench_then",
           "tests/scenarios/test_end_to_end.py::test_wide")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests first (`LONGEST`; otherwise the collection order). Under
    `make mutate` (mutmut sets MUTANT_UNDER_TEST): only the groups' test files of
    tools/mutate_groups.toml run, and a mutant gets only its own group's files."""
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST))  # a stable sort
    under = os.environ.get("MUTANT_UNDER_TEST")
    groups_file = Path(__file__).resolve().parents[1] / "tools" / "mutate_groups.toml"
    if not under or not groups_file.exists():
        return
    import fnmatch
    import tomllib

    groups = tomllib.loads(groups_file.read_text(encoding="utf-8")).values()
    mine = [g for g in groups if any(fnmatch.fnmatchcase(under, p) for p in g["mutants"])]
    paths = tuple({t for g in (mine or groups) for t in g["tests"]})
    keep = [i for i in items if i.nodeid.split("::")[0] in paths
            or i.nodeid.startswith(tuple(f"{p}/" for p in paths))]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
