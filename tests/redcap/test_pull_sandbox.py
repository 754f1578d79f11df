"""`registry pull` against the sandbox over HTTP, through the real PyCap client.

Full pulls equal the sandbox's content (DAG per site with a project-wide token or with
DAG tokens, and project per site); an incremental pull after edits, additions and
deletions through the API equals a fresh full pull; dictionary changes force a full
pull and are reported; the schedule forces a full pull.
"""

from __future__ import annotations

import copy

import pytest

from registry.pulling import pull_all, pull_site
from registry.sandbox.clock import ManualClock
from registry.sandbox.project import Project
from registry.sandbox.server import SandboxServer
from registry.settings import Site
from registry.store import Store
from tests.redcap.pull_support import (
    DAG_COLUMN,
    FAST,
    by_record,
    delete_records,
    import_rows,
    settings_for,
)


def _dag_sites(server, monkeypatch, *, dag_tokens: bool = False) -> list[Site]:
    sites = []
    for dag in server.project.dag_ids:
        env = f"PULLTEST_TOKEN_{dag.upper()}" if dag_tokens else "PULLTEST_TOKEN_PROJECT"
        monkeypatch.setenv(env, server.tokens[dag] if dag_tokens else server.tokens.project)
        sites.append(Site(name=dag, url=server.url, token_env=env, dag=dag))
    return sites


def _truth(registry, dag: str | None = None, *, drop_dag: bool = False):
    rows = [r for r in registry.records if dag is None or r[DAG_COLUMN] == dag]
    return by_record(rows, drop=[DAG_COLUMN] if drop_dag else [])


def _stored(store: Store, snapshot_id: int, *, drop_dag: bool = False):
    rows = store.snapshot_rows(snapshot_id)
    return by_record(rows, drop=[DAG_COLUMN] if drop_dag else [])


@pytest.mark.parametrize("dag_tokens", [False, True], ids=["project-token", "dag-tokens"])
def test_full_pull_of_dag_sites_equals_the_sandbox(served, small_registry, tmp_path,
                                                   monkeypatch, dag_tokens):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch, dag_tokens=dag_tokens))
    with Store.open(settings.store.url) as store:
        outcomes = pull_all(settings, store, clock=served.clock.now)
        assert [o.ok for o in outcomes] == [True] * 3, [o.error for o in outcomes]
        for outcome in outcomes:
            assert outcome.kind == "full" and outcome.reason == "no previous snapshot"
            truth = _truth(small_registry, outcome.site, drop_dag=dag_tokens)
            assert _stored(store, outcome.snapshot_id, drop_dag=dag_tokens) == truth
            assert outcome.n_records == len(truth) > 10
            # batches of 25 ids, never one big export
            assert outcome.stats["batches"] >= len(truth) // FAST.batch_size
            assert store.snapshot_metadata(outcome.snapshot_id)[0]["field_name"] == "record_id"
            info = store.latest_snapshot(outcome.site)
            assert info.project_info == served.project.project_info
            assert info.details["redcap_version"] == "15.7.6"
            assert {f["form_name"] for f in info.details["repeating_forms"]} == {
                "treatments", "icu_stay", "infections"}
            assert (info.details["dags"] is None) == dag_tokens


def test_project_per_site_pulls_each_project(small_registry, tmp_path, monkeypatch):
    clock = ManualClock("2025-07-01 02:00:00")
    servers, sites = [], []
    for dag in ("paris", "lyon"):
        rows = [{k: v for k, v in r.items() if k != DAG_COLUMN}
                for r in small_registry.records if r[DAG_COLUMN] == dag]
        project = Project(small_registry.metadata, [], rows,
                          repeating=["treatments", "icu_stay", "infections"], clock=clock)
        server = SandboxServer(project=project).start()
        servers.append(server)
        monkeypatch.setenv(f"PULLTEST_{dag.upper()}", server.tokens.project)
        sites.append(Site(name=f"site-{dag}", url=server.url, token_env=f"PULLTEST_{dag.upper()}"))
    try:
        settings = settings_for(tmp_path, sites)
        with Store.open(settings.store.url) as store:
            outcomes = pull_all(settings, store, clock=clock.now)
            assert all(o.ok for o in outcomes), [o.error for o in outcomes]
            for outcome, dag in zip(outcomes, ("paris", "lyon"), strict=True):
                assert _stored(store, outcome.snapshot_id) == _truth(small_registry, dag,
                                                                     drop_dag=True)
    finally:
        for server in servers:
            server.stop()


def test_incremental_pull_equals_a_fresh_full_pull(served, small_registry, tmp_path,
                                                   monkeypatch, pull_store_url):
    sites = _dag_sites(served, monkeypatch)
    settings = settings_for(tmp_path, sites, store_url=pull_store_url)
    url, token = served.url, served.tokens.project
    paris = [r for r in small_registry.records if r[DAG_COLUMN] == "paris"]
    paris_ids = sorted({r["record_id"] for r in paris})
    with Store.open(settings.store.url) as store:
        first = pull_site(sites[0], settings, store, clock=served.clock.now)
        assert first.kind == "full"

        served.clock.advance(hours=20)
        edited, gone = paris_ids[0], paris_ids[1:3]
        import_rows(url, token, [{"record_id": edited, "redcap_repeat_instrument": "",
                                  "redcap_repeat_instance": "", "ferritin": "4321"}])
        import_rows(url, token, [{"record_id": paris_ids[3],
                                  "redcap_repeat_instrument": "treatments",
                                  "redcap_repeat_instance": "9", "trt_class": "1",
                                  "trt_name": "11", "trt_start": "2025-06-01"}])
        import_rows(url, token, [{"record_id": "4101-9999", "redcap_data_access_group": "paris",
                                  "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
                                  "sex": "1", "birth_date": "1970-01-01"}])
        delete_records(url, token, gone)
        served.clock.advance(hours=4)

        incremental = pull_site(sites[0], settings, store, clock=served.clock.now)
        full = pull_site(sites[0], settings, store, clock=served.clock.now, full=True)

        assert incremental.kind == "incremental" and full.kind == "full"
        assert full.reason == "forced"
        assert incremental.stats["fetched"] == 3  # edited, new instance, new record
        assert (incremental.n_added, incremental.n_changed, incremental.n_deleted) == (1, 2, 2)
        assert store.snapshot_records(incremental.snapshot_id) == \
            store.snapshot_records(full.snapshot_id)
        rows = store.snapshot_records(incremental.snapshot_id)
        assert rows[edited][0]["ferritin"] == "4321"
        assert not set(gone) & set(rows) and "4101-9999" in rows
        assert store.snapshot_diff(incremental.snapshot_id, full.snapshot_id).changed == []


def test_changed_dictionary_forces_a_full_pull_and_is_reported(small_registry, tmp_path,
                                                               monkeypatch):
    clock = ManualClock("2025-07-01 02:00:00")
    metadata = copy.deepcopy(small_registry.metadata)
    settings = None
    with Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        for step in ("before", "after"):
            if step == "after":
                sex = next(m for m in metadata if m["field_name"] == "sex")
                sex["select_choices_or_calculations"] = "1, Female | 2, Male | 3, Other"
            project = Project(metadata, small_registry.dags, small_registry.records,
                              repeating=["treatments", "icu_stay", "infections"], clock=clock)
            with SandboxServer(project=project) as server:
                monkeypatch.setenv("PULLTEST_DICT", server.tokens.project)
                site = Site(name="paris", url=server.url, token_env="PULLTEST_DICT", dag="paris")
                settings = settings_for(tmp_path, [site])
                clock.advance(hours=1)
                outcome = pull_site(site, settings, store, clock=clock.now)
        assert outcome.kind == "full" and outcome.reason == "data dictionary changed"
        assert outcome.dictionary_changes == "choices changed: sex"
        info = store.latest_snapshot("paris")
        assert info.dictionary_changes["choices_changed"] == ["sex"]


def test_full_pull_runs_on_schedule(served, tmp_path, monkeypatch):
    site = _dag_sites(served, monkeypatch)[1]
    settings = settings_for(tmp_path, [site])
    with Store.open(settings.store.url) as store:
        kinds = []
        for _ in range(4):  # days 0, 3, 6, 9 with full_pull_every_days = 7
            kinds.append(pull_site(site, settings, store, clock=served.clock.now).kind)
            served.clock.advance(days=3)
    assert kinds == ["full", "incremental", "incremental", "full"]


def test_progress_bars_show_each_site(served, tmp_path, monkeypatch, capsys):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch)[:2])
    with Store.open(settings.store.url) as store:
        outcomes = pull_all(settings, store, clock=served.clock.now, show_progress=True)
    assert all(o.ok for o in outcomes)
    err = capsys.readouterr().err
    for outcome in outcomes:
        assert outcome.site in err and f"{outcome.n_records}/{outcome.n_records}" in err
