"""An unchanged site shows the report of the run it last changed in; a change, its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry.reports.reuse import site_report_run
from registry.store import Store

T0 = datetime(2026, 11, 20, 2, 15, tzinfo=UTC)
ROWS = {"1": [{"record_id": "1", "sex": "1"}], "2": [{"record_id": "2", "sex": "2"}]}


def _flag(status: str, message: str = "Treatment starts before diagnosis") -> dict:
    return {"site": "paris", "record_id": "1", "form": "treatments", "instance": 2,
            "field": "trt_start", "rule_id": "dates.treatment_after_diagnosis",
            "severity": "blocking", "status": status, "first_seen": T0, "message": message,
            "link": "http://r/redcap_v14/DataEntry/index.php?pid=1&id=1&page=treatments"}


def _night(store: Store, night: int, snapshot_id: int, status: str, **flag: str) -> str:
    run_id = store.start_run("nightly", started_at=T0 + timedelta(days=night))
    store.use_snapshot(run_id, "paris", snapshot_id, fresh=True)
    store.save_flags(run_id, "paris", snapshot_id,
                     [_flag(status, **flag) | {"last_seen": T0 + timedelta(days=night)}])
    store.finish_run(run_id, "succeeded", 0)
    return run_id


@pytest.fixture
def store(tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}") as s:
        yield s


def test_unchanged_records_and_flags_reuse_the_earlier_report(store):
    first = store.write_snapshot("paris", ROWS)
    r1 = _night(store, 1, first.id, "new")
    same = store.write_incremental("paris", first.id, {})
    r2 = _night(store, 2, same.id, "open")  # new -> open: the report says so
    same2 = store.write_incremental("paris", same.id, {})
    r3 = _night(store, 3, same2.id, "open")
    r4 = _night(store, 4, store.write_incremental("paris", same2.id, {}).id, "open")
    assert [site_report_run(store, r, "paris") for r in (r1, r2, r3, r4)] == [r1, r2, r2, r2]

    edited = store.write_incremental("paris", same2.id, {"2": [{"record_id": "2", "sex": "1"}]})
    r5 = _night(store, 5, edited.id, "open")
    r6 = _night(store, 6, store.write_incremental("paris", edited.id, {}).id, "open",
                message="Treatment starts 3 days before diagnosis")
    assert site_report_run(store, r5, "paris") == r5  # a record changed
    assert site_report_run(store, r6, "paris") == r6  # a flag's message changed
    assert site_report_run(store, r4, "paris") == r2  # the same answer later (rebuilds)


def test_a_failed_pull_is_not_the_same_as_a_fresh_one(store):
    first = store.write_snapshot("paris", ROWS)
    r1 = _night(store, 1, first.id, "open")
    run_id = store.start_run("nightly", started_at=T0 + timedelta(days=2))
    store.use_snapshot(run_id, "paris", first.id, fresh=False)
    store.stage(run_id, "pull", "paris", "failed", message="site 'paris': HTTP 503")
    store.save_flags(run_id, "paris", first.id, [_flag("open")])
    store.finish_run(run_id, "partial", 1)
    assert site_report_run(store, r1, "paris") == r1
    assert site_report_run(store, run_id, "paris") == run_id
