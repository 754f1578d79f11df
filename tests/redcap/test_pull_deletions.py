"""A record leaves a snapshot only when REDCap's log says it was deleted (issue 11.1).

A loaded REDCap drops rows from an export without an error (the sandbox's `drop_rows`
fault), and asking again can drop them again, so no short answer is ever taken for a
deletion: the ids of the last snapshot missing from the id list are asked again by id,
then looked up in REDCap's log (`content=log`, `logtype=record_delete`, since the last
pull). Unexplained ones fail the site's pull with one line and keep the last snapshot.
"""

from __future__ import annotations

import pytest

from registry.errors import RedcapRefused, RedcapUnreachable
from registry.pulling import pull_site
from registry.settings import Site
from registry.store import Store
from tests.redcap.pull_support import DAG_COLUMN, delete_records, import_rows, settings_for


@pytest.fixture
def paris(served, monkeypatch) -> Site:
    monkeypatch.setenv("PULLTEST_DEL_TOKEN", served.tokens.project)
    return Site(name="paris", url=served.url, token_env="PULLTEST_DEL_TOKEN", dag="paris")


def _paris_ids(registry) -> list[str]:
    return sorted({r["record_id"] for r in registry.records if r[DAG_COLUMN] == "paris"})


def test_rows_dropped_from_every_answer_fail_the_pull_and_delete_nothing(served, small_registry,
                                                                        paris, tmp_path):
    settings = settings_for(tmp_path, [paris])
    with Store.open(settings.store.url) as store:
        first = pull_site(paris, settings, store, clock=served.clock.now)
        served.clock.advance(hours=1)
        rule = served.faults.add("drop_rows", content="record", count=None, fraction=0.1)
        with pytest.raises(RedcapUnreachable) as caught:
            pull_site(paris, settings, store, clock=served.clock.now)
        assert rule.fired >= 2  # the id list, then the ids asked again by id
        message = str(caught.value)
        assert "\n" not in message and "site 'paris'" in message
        assert "log shows no deletion" in message and "last snapshot is kept" in message
        assert store.latest_snapshot("paris").id == first.snapshot_id
        assert sorted(store.snapshot_records(first.snapshot_id)) == _paris_ids(small_registry)


def test_a_deletion_in_the_log_leaves_while_dropped_rows_stay(served, small_registry, paris,
                                                             tmp_path):
    settings = settings_for(tmp_path, [paris])
    ids = _paris_ids(small_registry)
    with Store.open(settings.store.url) as store:
        pull_site(paris, settings, store, clock=served.clock.now)
        served.clock.advance(hours=1)
        delete_records(served.url, served.tokens.project, ids[:2])
        served.clock.advance(hours=1)
        served.faults.add("drop_rows", content="record", count=1, fraction=0.2)  # the id list
        outcome = pull_site(paris, settings, store, clock=served.clock.now)
        assert outcome.n_deleted == 2 and outcome.stats["deleted_per_log"] == 2
        assert outcome.stats["id_list_short"] > 0
        assert sorted(store.snapshot_records(outcome.snapshot_id)) == ids[2:]


def test_a_log_closed_to_the_token_fails_a_pull_that_needs_it(served, small_registry, paris,
                                                             tmp_path):
    settings = settings_for(tmp_path, [paris])
    ids = _paris_ids(small_registry)
    with Store.open(settings.store.url) as store:
        first = pull_site(paris, settings, store, clock=served.clock.now)
        served.clock.advance(hours=1)
        delete_records(served.url, served.tokens.project, ids[:1])
        served.faults.add("status", status=403, content="log", count=None)
        with pytest.raises(RedcapRefused) as caught:
            pull_site(paris, settings, store, clock=served.clock.now)
        assert "Logging right" in str(caught.value) and ids[0] in str(caught.value)
        assert store.latest_snapshot("paris").id == first.snapshot_id


def test_a_record_moved_to_another_dag_leaves_the_site(served, small_registry, paris, tmp_path):
    settings = settings_for(tmp_path, [paris])
    ids = _paris_ids(small_registry)
    with Store.open(settings.store.url) as store:
        pull_site(paris, settings, store, clock=served.clock.now)
        served.clock.advance(hours=1)
        import_rows(served.url, served.tokens.project,
                    [{"record_id": ids[0], "redcap_repeat_instrument": "",
                      "redcap_repeat_instance": "", DAG_COLUMN: "lyon"}])
        outcome = pull_site(paris, settings, store, clock=served.clock.now)
        assert outcome.stats["moved_dag"] == 1 and outcome.n_deleted == 1
        assert ids[0] not in store.snapshot_records(outcome.snapshot_id)


def test_the_failure_names_five_unexplained_records_then_says_there_are_more(
        served, small_registry, paris, tmp_path):
    unexplained = 6
    settings = settings_for(tmp_path, [paris])
    ids = _paris_ids(small_registry)
    assert len(ids) > 6
    logged = ids[:len(ids) - unexplained]                  # deleted, and in the log
    with Store.open(settings.store.url) as store:
        pull_site(paris, settings, store, clock=served.clock.now)
        served.clock.advance(hours=1)
        delete_records(served.url, served.tokens.project, logged)
        served.faults.add("drop_rows", content="record", count=None, fraction=1.0)
        with pytest.raises(RedcapUnreachable) as caught:
            pull_site(paris, settings, store, clock=served.clock.now)
    rest = ids[len(logged):]
    shown = ", ".join(rest[:5]) + " ..."
    assert (f"site 'paris': {unexplained} record(s) of the last snapshot ({shown}) are "
            "missing from REDCap's answers") in str(caught.value)
