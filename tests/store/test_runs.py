"""Runs, flags, per-rule results and analysis results round trip through the store."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from registry.errors import StoreError
from registry.quality.lifecycle import OPEN_STATUSES
from registry.store import Store
from registry.store.flags import OPEN_FLAG_STATUSES

T0 = datetime(2026, 11, 20, 2, 15, tzinfo=UTC)


def _flag(record_id: str = "7", status: str = "new", **kw: object) -> dict[str, object]:
    return {"site": "paris", "record_id": record_id, "form": "treatments", "instance": 2,
            "field": "trt_start", "rule_id": "dates.treatment_after_diagnosis",
            "severity": "blocking", "status": status, "first_seen": T0,
            "message": "Treatment starts before diagnosis",
            "link": "http://r/redcap_v14/DataEntry/index.php?pid=1&id=7&page=treatments"
                    "&instance=2", **kw}


def test_run_lifecycle(store: Store, make_records) -> None:
    snap = store.write_snapshot("paris", make_records(3))
    run_id = store.start_run("nightly", started_at=T0)
    assert re.fullmatch(r"20261120-021500-[0-9a-f]{4}", run_id)
    store.stage(run_id, "pull", "paris", "running", started=T0)
    store.stage(run_id, "pull", "paris", "ok", started=T0, ended=T0 + timedelta(seconds=5),
                counts={"records": 3, "requests": 2})
    store.stage(run_id, "pull", "lyon", "failed", message="REDCap unreachable")
    store.stage(run_id, "analyse", None, "ok")
    store.use_snapshot(run_id, "paris", snap.id, fresh=True)
    store.finish_run(run_id, "partial", 1, message="lyon failed")
    run = store.run(run_id)
    assert (run.kind, run.status, run.exit_code, run.message) == ("nightly", "partial", 1,
                                                                  "lyon failed")
    assert run.started_at == T0 and run.ended_at is not None
    assert [(s.stage, s.site, s.status) for s in run.stages] == [
        ("pull", "paris", "ok"), ("pull", "lyon", "failed"), ("analyse", None, "ok")]
    assert run.stages[0].counts == {"records": 3, "requests": 2}
    assert run.stages[0].ended_at == T0 + timedelta(seconds=5)
    assert run.snapshots["paris"].snapshot_id == snap.id and run.snapshots["paris"].fresh


def test_runs_are_listed_newest_first(store: Store) -> None:
    ids = [store.start_run("nightly", started_at=T0 + timedelta(days=d)) for d in (0, 2, 1)]
    store.start_run("validate", started_at=T0 + timedelta(days=3))
    assert [r.id for r in store.runs(kind="nightly")] == [ids[1], ids[2], ids[0]]
    assert len(store.runs(limit=2)) == 2
    assert sorted(ids) == [ids[0], ids[2], ids[1]]            # ids sort by start time
    assert [r.id for r in store.runs(status="running", kind="nightly", limit=1)] == [ids[1]]


def test_run_errors(store: Store) -> None:
    run_id = store.start_run()
    with pytest.raises(StoreError, match="run status"):
        store.finish_run(run_id, "done", 0)
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.stage("nope", "pull", None, "ok")
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.run("nope")
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.save_flags("nope", "paris", None, [])


def test_flags_round_trip_and_previous_set(store: Store, make_records) -> None:
    snap = store.write_snapshot("paris", make_records(3))
    r1 = store.start_run(started_at=T0)
    r2 = store.start_run(started_at=T0 + timedelta(days=1))
    r3 = store.start_run(started_at=T0 + timedelta(days=2))
    assert store.save_flags(r1, "paris", snap.id, [_flag("7"), _flag("8", instance=None,
                                                                     value="2031-01-01")]) == 2
    store.save_flags(r1, "lyon", None, [_flag("1", site="lyon")])
    store.save_flags(r2, "paris", snap.id, [_flag("7", status="open"),
                                            _flag("8", status="resolved", instance="")])
    # a set still `running` (or killed: it stays so until abandoned) is never previous
    assert store.previous_flags("paris") == [] and store.flags() == []
    store.finish_run(r1, "succeeded", 0)
    store.finish_run(r2, "partial", 1)
    got = store.flags(r1, "paris")
    assert [(f["record_id"], f["instance"]) for f in got] == [("7", 2), ("8", None)]
    assert got[0]["first_seen"] == T0 and got[0]["last_seen"] == T0
    assert got[0]["snapshot_id"] == snap.id and got[0]["run_id"] == r1
    assert got[1]["details"] == {"value": "2031-01-01"}
    assert {k: got[0][k] for k in ("form", "field", "rule_id", "severity", "status")} == {
        "form": "treatments", "field": "trt_start", "severity": "blocking", "status": "new",
        "rule_id": "dates.treatment_after_diagnosis"}

    assert [f["status"] for f in store.previous_flags("paris")] == ["open", "resolved"]
    assert [f["run_id"] for f in store.previous_flags("paris", before_run_id=r2)] == [r1, r1]
    assert store.previous_flags("paris", before_run_id=r1) == []
    assert store.flags(status="resolved", site="paris")[0]["record_id"] == "8"
    current = store.flags()                   # newest set of every site
    assert [(f["site"], f["run_id"]) for f in current] == [("lyon", r1), ("paris", r2),
                                                           ("paris", r2)]
    store.save_flags(r3, "paris", snap.id, [])          # validated, nothing wrong: a set too
    assert len(store.previous_flags("paris")) == 2     # until r3 finishes
    store.finish_run(r3, "succeeded", 0)
    assert store.previous_flags("paris") == []
    assert store.flags(site="paris") == []
    store.save_flags(r2, "paris", snap.id, [_flag("9")])  # saving again replaces
    assert [f["record_id"] for f in store.flags(r2, "paris")] == ["9"]


def test_open_flags_are_counted_per_run_by_severity(store: Store) -> None:
    r1, r2 = store.start_run(started_at=T0), store.start_run(started_at=T0 + timedelta(1))
    store.save_flags(r1, "paris", None, [_flag("7"), _flag("8", status="reopened"),
                                         _flag("9", severity="warning", status="open"),
                                         _flag("10", status="resolved"),
                                         _flag("11", status="accepted")])
    store.save_flags(r1, "lyon", None, [_flag("1", site="lyon")])  # another site's
    store.save_flags(r2, "paris", None, [_flag("10", status="resolved")])
    assert store.open_flag_counts("paris", [r1, r2]) == {r1: (2, 1), r2: (0, 0)}
    assert OPEN_FLAG_STATUSES == OPEN_STATUSES  # the store's copy of the lifecycle's
    assert store.open_flag_counts("paris", []) == {}


def test_flags_first_seen_accepts_dates(store: Store) -> None:
    run_id = store.start_run(started_at=T0)
    store.save_flags(run_id, "paris", None, [_flag(first_seen=date(2026, 11, 1)),
                                             _flag("8", first_seen="2026-11-02T03:00:00+01:00")])
    got = store.flags(run_id)
    assert got[0]["first_seen"] == datetime(2026, 11, 1, tzinfo=UTC)
    assert got[1]["first_seen"] == datetime(2026, 11, 2, 2, tzinfo=UTC)


@pytest.mark.parametrize("bad, match", [({"severity": "fatal"}, "severity"),
                                        ({"status": "closed"}, "status"),
                                        ({"rule_id": ""}, "lacks rule_id"),
                                        ({"site": "lyon"}, "saved under site"),
                                        ({"first_seen": "yesterday"}, "first_seen")])
def test_bad_flags_are_refused(store: Store, bad: dict[str, object], match: str) -> None:
    run_id = store.start_run()
    with pytest.raises(StoreError, match=match):
        store.save_flags(run_id, "paris", None, [_flag(), _flag(**bad)])
    assert store.flags(run_id) == []


def test_rule_results_over_nights(store: Store) -> None:
    runs = [store.start_run(started_at=T0 + timedelta(days=d)) for d in range(3)]
    for night, run_id in enumerate(runs):
        store.save_rule_results(run_id, "paris", [
            {"rule_id": "dates.order", "severity": "blocking", "checked": 100,
             "failed": 3 - night, "percent": 3.0 - night, "status": "failed", "detail": None},
            {"rule_id": "icu.stay", "severity": "warning", "checked": 0, "failed": 0,
             "percent": float("nan"), "status": "not_applicable", "detail": "no ICU stays"},
        ])
    store.save_rule_results(runs[0], "lyon", [{"rule_id": "dates.order", "severity": "blocking",
                                               "checked": 5, "failed": 0, "percent": 0.0,
                                               "status": "passed"}])
    trend = store.rule_results(site="paris")
    assert [(r["run_id"], r["rule_id"]) for r in trend][:2] == [(runs[0], "dates.order"),
                                                               (runs[0], "icu.stay")]
    assert [r["failed"] for r in trend if r["rule_id"] == "dates.order"] == [3, 2, 1]
    assert trend[1]["percent"] is None and trend[1]["detail"] == "no ICU stays"
    assert trend[0]["run_started_at"] == T0
    recent = store.rule_results(since=T0 + timedelta(days=1))
    assert {r["run_id"] for r in recent} == set(runs[1:])
    assert len(store.rule_results(run_id=runs[0])) == 3
    with pytest.raises(StoreError, match="rule result status"):
        store.save_rule_results(runs[0], "paris", [{"rule_id": "x", "status": "meh"}])
    assert len(store.rule_results(run_id=runs[0], site="paris")) == 2


def test_analysis_results_round_trip(store: Store) -> None:
    np = pytest.importorskip("numpy")
    run_id = store.start_run()
    payload = {"study": "jak_cni", "analyses": [{"name": "main", "hr": np.float64(0.61),
                                                 "n_sets": np.int64(40), "p": float("nan"),
                                                 "filter": {}}]}
    store.save_result(run_id, "jak_cni", "study_json", payload)
    store.save_result(run_id, "jak_cni", "matched", [{"set_id": 1, "record_id": "7"}])
    store.save_result(run_id, "jak_cni", "matched", [{"set_id": 2, "record_id": "8"}])
    got = store.results(run_id, "jak_cni")
    assert list(got) == ["matched", "study_json"]
    assert got["study_json"]["analyses"][0] == {"name": "main", "hr": 0.61, "n_sets": 40,
                                                "p": None, "filter": {}}
    assert got["matched"] == [{"set_id": 2, "record_id": "8"}]
    assert store.result(run_id, "jak_cni", "km") is None
    assert store.result_studies(run_id) == ["jak_cni"]
    with pytest.raises(StoreError, match="cannot be stored as JSON"):
        store.save_result(run_id, "jak_cni", "bad", {"x": object()})


def test_status_gathers_sites_and_runs(store: Store, make_records) -> None:
    snap = store.write_snapshot("paris", make_records(3))
    run_id = store.start_run(started_at=T0)
    store.stage(run_id, "pull", "lyon", "failed", message="REDCap unreachable")
    store.stage(run_id, "pull", "paris", "ok")
    store.finish_run(run_id, "partial", 1)
    status = store.status(sites=["paris", "lyon", "nice"])
    by_site = {s.site: s for s in status.sites}
    assert list(by_site) == ["paris", "lyon", "nice"]
    assert by_site["paris"].snapshot == snap
    assert by_site["lyon"].snapshot is None and by_site["lyon"].last_pull.status == "failed"
    assert by_site["nice"].last_pull is None
    assert [r.id for r in status.runs] == [run_id]
