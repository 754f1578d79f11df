"""What a pull reads back from the store: the previous snapshot's ids, never its records.

Loading every record's JSON only to learn the previous ids was most of an incremental
pull's time at 100-fold scale (`benchmarks/pull_scale.py`).
"""

from __future__ import annotations

from sqlalchemy import event

from registry.pulling import previous_pull, pull_site
from registry.settings import Site
from registry.store import Store
from tests.redcap.pull_support import DAG_COLUMN, import_rows, settings_for


def test_incremental_pull_reads_no_record_payloads(served, small_registry, tmp_path,
                                                   monkeypatch, pull_store_url):
    monkeypatch.setenv("PULLTEST_READS", served.tokens.project)
    site = Site(name="lyon", url=served.url, token_env="PULLTEST_READS", dag="lyon")
    settings = settings_for(tmp_path, [site], store_url=pull_store_url)
    lyon_ids = sorted({r["record_id"] for r in small_registry.records
                       if r[DAG_COLUMN] == "lyon"})
    with Store.open(settings.store.url) as store:
        first = pull_site(site, settings, store, clock=served.clock.now)
        previous = previous_pull(store, "lyon")
        assert previous is not None and previous.snapshot_id == first.snapshot_id
        assert previous.record_ids == set(store.snapshot_records(first.snapshot_id))
        assert previous.record_ids == set(lyon_ids)

        served.clock.advance(hours=20)
        import_rows(served.url, served.tokens.project,
                    [{"record_id": lyon_ids[0], "redcap_repeat_instrument": "",
                      "redcap_repeat_instance": "", "ferritin": "777"}])
        served.clock.advance(hours=1)
        selects: list[str] = []

        def keep(conn, cursor, statement, *args) -> None:  # noqa: ANN001
            if statement.lstrip().upper().startswith("SELECT"):
                selects.append(statement)

        event.listen(store.engine, "before_cursor_execute", keep)
        try:
            incremental = pull_site(site, settings, store, clock=served.clock.now)
        finally:
            event.remove(store.engine, "before_cursor_execute", keep)
        assert incremental.kind == "incremental" and incremental.stats["fetched"] == 1
        assert incremental.n_records == len(lyon_ids) and incremental.n_changed == 1
        assert selects and not [s for s in selects if "record_versions.payload" in s]
        assert store.snapshot_records(incremental.snapshot_id)[lyon_ids[0]][0]["ferritin"] \
            == "777"
