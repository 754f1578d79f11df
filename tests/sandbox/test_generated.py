"""The sandbox serving the generated registry: exact rows, DAG partition, determinism."""

from __future__ import annotations

import redcap

from registry.sandbox.server import SandboxServer


def _as_exported(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """Generator rows as REDCap's JSON gives them: repeat instance an int on repeat rows."""
    return [{k: (int(v) if k == "redcap_repeat_instance" and v else v) for k, v in r.items()}
            for r in rows]


def _export(server: SandboxServer, token: str | None = None, **kw: object) -> list[dict]:
    project = redcap.Project(server.url, token or server.tokens.project)
    return project.export_records(**kw)


def test_full_export_is_exactly_the_generated_rows(sandbox_factory):
    """The generator's flat rows are the contract: the sandbox serves them unchanged."""
    server = sandbox_factory(seed=11, patients=60, sites=3)
    assert _export(server, export_data_access_groups=True) == _as_exported(
        server.registry.records)


def test_dag_tokens_partition_the_registry(sandbox_factory):
    """§4: each DAG token sees exactly its DAG's records; together they are all records."""
    server = sandbox_factory(seed=11, patients=60, sites=3)
    every = {r["record_id"] for r in server.registry.records}
    seen: set[str] = set()
    for dag in server.project.dag_ids:
        ids = {r["record_id"] for r in _export(server, server.tokens[dag], fields=["record_id"])}
        expected = {r["record_id"] for r in server.registry.records
                    if r["redcap_data_access_group"] == dag}
        assert ids == expected and not ids & seen
        seen |= ids
    assert seen == every


def test_same_seed_same_records_other_seed_other_records(sandbox_factory):
    one = sandbox_factory(seed=5, patients=30)
    two = sandbox_factory(seed=5, patients=30)
    other = sandbox_factory(seed=6, patients=30)
    assert _export(one) == _export(two)
    assert _export(one) != _export(other)
    assert one.tokens.project != two.tokens.project


def test_generated_records_are_created_at_server_start(sandbox_factory):
    """Generated records get one creation time, the server's start, in data and log."""
    server = sandbox_factory(seed=5, patients=10)
    start = server.clock.now()
    server.clock.advance(hours=1)
    project = redcap.Project(server.url, server.tokens.project)
    assert len(project.export_records(fields=["record_id"], date_begin=start)) == 10
    assert project.export_records(fields=["record_id"],
                                  date_begin=start.replace(second=1)) == []
    assert len(project.export_logging(log_type="record_add")) == 10


def test_concurrent_exports_and_imports_are_consistent(sandbox_factory):
    """The server is threaded: parallel batch exports and imports never fail or tear."""
    from concurrent.futures import ThreadPoolExecutor

    server = sandbox_factory(seed=3, patients=80)
    ids = sorted({r["record_id"] for r in server.registry.records})
    expected = len(server.registry.records)

    def export(_: int) -> int:
        project = redcap.Project(server.url, server.tokens.project)
        return sum(len(project.export_records(records=ids[i:i + 20]))
                   for i in range(0, len(ids), 20))

    def edit(n: int) -> dict:
        project = redcap.Project(server.url, server.tokens.project)
        return project.import_records([{"record_id": ids[n], "ferritin": str(100 + n)}])

    with ThreadPoolExecutor(4) as pool:
        exports = [pool.submit(export, i) for i in range(4)]
        edits = [pool.submit(edit, n) for n in range(12)]
        assert [f.result() for f in exports] == [expected] * 4
        assert [f.result() for f in edits] == [{"count": 1}] * 12
