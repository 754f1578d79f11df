"""The flag <-> DRW query links and the `accepted` status, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import SQLAlchemyError

from registry.errors import StoreError
from registry.store import Store


def _flag(field: str, instance: str = "", status: str = "open") -> dict:
    return {"site": "paris", "record_id": "10", "event": "", "form": "baseline",
            "instance": instance, "field": field, "rule_id": "range", "severity": "blocking",
            "status": status, "message": f"{field} is out of range", "link": ""}


def test_links_are_replaced_by_flag_key_and_accepted_flags_saved(store: Store) -> None:
    run = store.start_run("nightly")
    store.save_flags(run, "paris", None, [_flag("cpk"), _flag("trt_stop", "2")])
    link = {"record_id": "10", "event": "", "form": "baseline", "instance": "",
            "field": "cpk", "rule_id": "range", "status_id": 5, "state": "open",
            "accepted_value": None, "last_ts": "2025-01-31 02:00:00"}
    store.apply_drw(run, "paris", [], [link])
    store.apply_drw(run, "paris", [(_flag("cpk"), "accepted"),
                                   (_flag("trt_stop", "2"), "accepted")],
                    [{**link, "state": "accepted", "accepted_value": "h1"}])
    [saved] = store.drw_links("paris")
    assert (saved["status_id"], saved["state"], saved["accepted_value"], saved["run_id"]) == (
        5, "accepted", "h1", run)
    assert store.drw_links("lyon") == []
    assert {f["field"]: f["status"] for f in store.flags(run, "paris")} == {
        "cpk": "accepted", "trt_stop": "accepted"}


def test_an_unknown_state_is_refused_and_nothing_is_kept(store: Store) -> None:
    run = store.start_run("nightly")
    store.save_flags(run, "paris", None, [_flag("cpk")])
    bad = {"record_id": "10", "form": "baseline", "field": "cpk", "rule_id": "range",
           "status_id": 5, "state": "maybe"}
    with pytest.raises((ValueError, StoreError, SQLAlchemyError)):
        store.apply_drw(run, "paris", [(_flag("cpk"), "accepted")], [bad])
    assert store.drw_links("paris") == []
    assert store.flags(run, "paris")[0]["status"] == "open"
