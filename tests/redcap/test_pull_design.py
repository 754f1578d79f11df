"""An incremental night reuses the last snapshot's project-level answers only while
REDCap's log shows no design change; anything else fetches them again.

Pulled over HTTP from the sandbox, whose log records design changes as REDCap does
("Manage/Design" events, logtype `manage`), counted at the client's door as in
test_pull_shared.py.
"""

from __future__ import annotations

import copy
from collections import Counter
from datetime import datetime

from registry.pulling import pull_all
from registry.redcap.design import design_changes, stored_design, unchanged_design
from registry.sandbox.schema import Schema
from registry.store import Store
from tests.redcap.pull_support import FAST, PROJECT_CALLS, import_rows, settings_for
from tests.redcap.test_pull_sandbox import _dag_sites


def _next_night(served, edit: str = "checked") -> list[str]:
    """A day passes and a few records are edited; returns their ids."""
    served.clock.advance(hours=20)
    edited = sorted(served.project.records)[:: 30]
    import_rows(served.url, served.tokens.project, [
        {"record_id": rid, "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
         "baseline_notes": edit} for rid in edited])
    served.clock.advance(hours=1)
    return edited


def _designed(calls: Counter) -> dict[str, int]:
    return {c: calls[c] for c in PROJECT_CALLS}


def test_a_dictionary_change_on_the_server_is_seen_on_the_next_incremental_night(
        served, tmp_path, monkeypatch, calls):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch))
    with Store.open(settings.store.url) as store:
        assert all(o.ok for o in pull_all(settings, store, clock=served.clock.now))
        _next_night(served)
        calls.clear()
        quiet = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok and o.kind == "incremental" for o in quiet)
        assert _designed(calls) == dict.fromkeys(PROJECT_CALLS, 0) and calls["log"] == 1

        # someone adds a choice to `sex` in REDCap's Online Designer
        old = served.project.schema
        metadata = copy.deepcopy(old.metadata)
        sex = next(m for m in metadata if m["field_name"] == "sex")
        sex["select_choices_or_calculations"] += " | 3, Other"
        served.project.change_design(Schema(metadata, old.repeating), username="designer",
                                     details="Edit project field")
        edited = _next_night(served, "checked again")
        calls.clear()
        changed = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok for o in changed), [o.error for o in changed]
        assert _designed(calls) == dict.fromkeys(PROJECT_CALLS, 1)
        for outcome in changed:
            assert outcome.kind == "full" and outcome.reason == "data dictionary changed"
            assert outcome.dictionary_changes == "choices changed: sex"
            assert not outcome.stats["design_reused"]
            info = store.latest_snapshot(outcome.site)
            assert "Other" in next(m for m in store.snapshot_metadata(info.id)
                                   if m["field_name"] == "sex")["select_choices_or_calculations"]
        assert sum(o.n_changed for o in changed) == len(edited)

        # the night after, the new dictionary is the kept one, and is reused again
        _next_night(served, "checked a third time")
        calls.clear()
        after = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok and o.kind == "incremental" and o.stats["design_reused"]
                   for o in after)
        assert _designed(calls) == dict.fromkeys(PROJECT_CALLS, 0)


def test_a_project_settings_change_fetches_every_answer_and_stays_incremental(
        served, tmp_path, monkeypatch, calls):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch))
    with Store.open(settings.store.url) as store:
        pull_all(settings, store, clock=served.clock.now)
        _next_night(served)
        with served.project.lock:
            served.project.project_info["project_title"] = "Renamed registry"
        served.project.log_manage("designer", "Modify project settings")
        calls.clear()
        outcomes = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok and o.kind == "incremental" for o in outcomes)
        assert _designed(calls) == dict.fromkeys(PROJECT_CALLS, 1)
        for outcome in outcomes:
            info = store.latest_snapshot(outcome.site)
            assert info.project_info["project_title"] == "Renamed registry"
            assert info.details["design"] == "fetched from REDCap"


def test_harmless_log_entries_do_not_refetch_the_design(served, tmp_path, monkeypatch, calls):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch))
    with Store.open(settings.store.url) as store:
        pull_all(settings, store, clock=served.clock.now)  # logs its dictionary download
        _next_night(served)
        served.project.log_manage("coordinator", "Add field comment (Record: 4101-1)")
        served.project.log_manage("analyst", "Download data dictionary")
        calls.clear()
        outcomes = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok and o.stats["design_reused"] for o in outcomes)
        assert _designed(calls) == dict.fromkeys(PROJECT_CALLS, 0)
        info = store.latest_snapshot(outcomes[0].site)
        assert info.details["design"].startswith("REDCap's log shows no design change since")


def test_a_refused_log_fetches_every_answer(served, tmp_path, monkeypatch, calls):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch))
    with Store.open(settings.store.url) as store:
        pull_all(settings, store, clock=served.clock.now)
        edited = _next_night(served)
        served.faults.add("status", status=403, content="log", count=1)
        calls.clear()
        outcomes = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok and o.kind == "incremental" for o in outcomes), \
            [o.error for o in outcomes]
        assert not any(o.stats["design_reused"] for o in outcomes)
        # the refusal holds for the token: its other sites do not ask the log again
        assert calls["log"] == 1 and _designed(calls) == dict.fromkeys(PROJECT_CALLS, 1)
        assert sum(o.n_changed for o in outcomes) == len(edited)


def test_dag_tokens_and_scheduled_full_pulls_never_reuse(served, tmp_path, monkeypatch, calls):
    settings = settings_for(tmp_path, _dag_sites(served, monkeypatch, dag_tokens=True))
    with Store.open(settings.store.url) as store:
        pull_all(settings, store, clock=served.clock.now)
        _next_night(served)
        calls.clear()
        outcomes = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok and o.kind == "incremental" for o in outcomes)
        assert calls["log"] == 0 and calls["metadata"] == 1  # the log is not trusted
        assert not any(o.stats["design_reused"] for o in outcomes)

    settings = settings_for(tmp_path / "weekly", _dag_sites(served, monkeypatch))
    (tmp_path / "weekly").mkdir()
    with Store.open(settings.store.url) as store:
        pull_all(settings, store, clock=served.clock.now)
        served.clock.advance(days=FAST.full_pull_every_days)
        calls.clear()
        outcomes = pull_all(settings, store, clock=served.clock.now)
        assert all(o.ok and o.kind == "full" for o in outcomes)
        assert calls["log"] == 0 and _designed(calls) == dict.fromkeys(PROJECT_CALLS, 1)


class _Log:
    """A client answering only the design log (what `unchanged_design` may ask)."""

    def __init__(self, rows):
        self.rows, self.asked = rows, 0

    def design_log(self, since: datetime):
        self.asked += 1
        return self.rows


def test_only_known_reads_and_comments_count_as_no_change():
    rows = [{"action": "Manage/Design ", "details": "Download data dictionary (API)"},
            {"action": "Manage/Design ", "details": "Export REDCap version (API)"},
            {"action": "Manage/Design", "details": "Edit field comment (Record: 7)"}]
    assert design_changes(rows) == []
    assert design_changes([*rows, {"action": "Manage/Design", "details": "Create event"},
                           {"action": "Manage/Design", "details": ""}]) == [
        "Create event", "Manage/Design"]


def test_answers_are_reused_only_from_the_same_source(served, monkeypatch):
    site = _dag_sites(served, monkeypatch)[0]
    from registry.redcap.design import source_digest

    details = {"repeating_forms": [], "dags": [{"unique_group_name": site.dag}],
               "instruments": [], "events": [], "arms": [], "form_event_mapping": [],
               "redcap_version": "15.7.6", "source": source_digest(site)}
    meta = [{"field_name": "record_id"}]
    since = datetime(2025, 7, 1)
    stored = stored_design(meta, {"project_id": 17}, details)
    assert unchanged_design(_Log([]), site, stored, since)[0] is stored
    assert source_digest(site) != site.token().reveal() and len(source_digest(site)) == 32

    other = stored_design(meta, {"project_id": 17}, {**details, "source": "0" * 32})
    client = _Log([])
    assert unchanged_design(client, site, other, since) == (
        None, "the site's URL or token changed since the last snapshot")
    assert client.asked == 0
    older = {k: v for k, v in details.items() if k != "instruments"}  # an older snapshot
    assert stored_design(meta, {"project_id": 17}, older) is None
    dag_token = stored_design(meta, {"project_id": 17}, {**details, "dags": None})
    assert unchanged_design(client, site, dag_token, since)[0] is None and client.asked == 0
