"""Project-level calls are made once per REDCap project per pull, not once per site.

Counted at the client's door (`RedcapClient._call`: one HTTP request each, retries
aside, checked against the HTTP requests the pacer let through) while `pull_all`
pulls the three DAG sites of one sandbox project.
"""

from __future__ import annotations

import dataclasses

from registry.pulling import pull_all
from registry.redcap.client import DAG_COLUMN
from registry.store import Store
from tests.redcap.pull_support import FAST, PROJECT_CALLS, import_rows, settings_for
from tests.redcap.test_pull_sandbox import _dag_sites


def test_one_project_token_asks_each_project_call_once(served, tmp_path, monkeypatch, calls):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch, dag_tokens=False))
    with Store.open(settings.store.url) as store:
        first = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok for o in first), [o.error for o in first]
        assert {c: calls[c] for c in PROJECT_CALLS} == dict.fromkeys(PROJECT_CALLS, 1)
        batches = sum(o.stats["batches"] for o in first)
        assert calls["record"] == 1 + batches  # one id list for the three sites
        assert [o.stats["shared_answers"] for o in first] == [0, 7, 7]
        # and nothing else went out: PyCap asks for no dictionary of its own
        assert sum(o.stats["requests"] for o in first) == sum(calls.values())

        served.clock.advance(hours=20)
        edited = sorted(served.project.records)[:: 40]
        import_rows(served.url, served.tokens.project, [
            {"record_id": rid, "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
             "baseline_notes": "checked"} for rid in edited])
        served.clock.advance(hours=1)
        calls.clear()
        second = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok and o.kind == "incremental" for o in second)
        # REDCap's log of design events once for the token (nothing but the first
        # night's dictionary download in it): the kept project-level answers stand
        assert {c: calls[c] for c in PROJECT_CALLS} == dict.fromkeys(PROJECT_CALLS, 0)
        assert calls["log"] == 1 and all(o.stats["design_reused"] for o in second)
        # the id list and the "changed since" list once for all; then one batch carries
        # every site's changed records (they fit in one), handed to each site by id
        assert calls["record"] == 3
        assert sum(o.stats["requests"] for o in second) == sum(calls.values()) == 4
        assert sum(o.n_changed for o in second) == len(set(edited))
        assert [o.n_changed for o in second] == [
            sum(served.project.records[r].dag == o.site for r in set(edited)) for o in second]
        for o in second:  # a site's snapshot holds its own DAG's records only
            assert {r[DAG_COLUMN] for r in store.snapshot_rows(o.snapshot_id)} == {o.site}


def test_a_shared_batch_that_times_out_is_asked_site_by_site(served, tmp_path, monkeypatch,
                                                             calls):
    pull = dataclasses.replace(FAST, timeout_seconds=0.5)
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch), pull=pull)
    with Store.open(settings.store.url) as store:
        first = pull_all(settings, store, clock=served.clock.now)
        served.clock.advance(hours=20)
        edited = sorted(served.project.records)[:: 20]
        import_rows(served.url, served.tokens.project, [
            {"record_id": rid, "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
             "baseline_notes": "checked again"} for rid in edited])
        served.clock.advance(hours=1)
        # the third record export of the night is the first site's topped-up batch
        served.faults.add("latency", content="record", after=2, count=1, seconds=1.5)
        calls.clear()
        second = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok and o.kind == "incremental" for o in second), [o.error for o in second]
        assert sum(o.n_changed for o in second) == len(set(edited))
        # the timed-out batch, then each site's own
        assert calls["record"] == 2 + 1 + sum(bool(o.n_changed) for o in second)
        for o, before in zip(second, first, strict=True):
            assert len(store.snapshot_record_ids(o.snapshot_id)) == before.n_records


def test_dag_tokens_share_the_project_design_not_their_own_answers(served, tmp_path,
                                                                    monkeypatch, calls):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch, dag_tokens=True))
    with Store.open(settings.store.url) as store:
        outcomes = pull_all(settings, store, clock=served.clock.now)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    n = len(outcomes)
    # the dictionary, repeating setup and version are the project's; each token asks
    # which project it is on, whether it may list DAGs, and its own DAG's ids
    assert (calls["metadata"], calls["repeatingFormsEvents"], calls["instrument"],
            calls["version"]) == (1, 1, 1, 1)
    assert (calls["project"], calls["dag"]) == (n, n)
    assert calls["record"] == n + sum(o.stats["batches"] for o in outcomes)


def test_a_failed_answer_is_not_kept_for_the_next_site(served, tmp_path, monkeypatch, calls):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch, dag_tokens=False))
    served.faults.add("status", status=403, content="metadata", count=1)
    with Store.open(settings.store.url) as store:
        outcomes = pull_all(settings, store, clock=served.clock.now)
    assert [o.ok for o in outcomes] == [False, True, True]
    assert "403" in (outcomes[0].error or "")
    assert calls["metadata"] == 2
