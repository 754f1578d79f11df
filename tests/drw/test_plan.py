"""`registry.drw.plan`: the night's DRW decisions, case by case (pure, no HTTP)."""

from __future__ import annotations

from registry.drw.plan import Link, cell_of, plan_sync
from registry.quality.lifecycle import flag_key
from registry.redcap.drw import DrwQuery, DrwResolution

TS, DATE = "2025-02-01 02:00:00", "2025-02-01"
COMMON = {"project_id": "17", "event_ids": {}, "ts": TS, "date": DATE}


def _flag(field: str = "cpk", status: str = "open", rule: str = "range", **kw) -> dict:
    return {"site": "paris", "record_id": "10", "event": "", "form": "baseline",
            "instance": "", "field": field, "rule_id": rule, "status": status,
            "severity": "blocking", "message": f"{field} is out of range",
            "suggestion": "Check the lab report", **kw}


def _res(res_id: int, ts: str, response: str | None = None, status: str | None = "OPEN",
         user: str | None = None) -> DrwResolution:
    return DrwResolution(res_id, ts, user, "x", response, status)


def _query(status: str | None, *steps: DrwResolution, field: str = "cpk",
           status_id: int = 5) -> DrwQuery:
    return DrwQuery(status_id, "10", "40001", field, 1, status, tuple(steps))


def test_a_new_flag_opens_a_query_with_its_message_and_suggestion():
    plan = plan_sync([_flag()], {}, [], {}, **COMMON)
    [(row, keys)] = plan.new.values()
    [res] = row["resolutions"]
    assert row["status_id"] == "" and row["repeat_instrument"] is None
    assert (row["record"], row["field_name"], row["instance"]) == ("10", "cpk", "1")
    assert res["comment"] == (f"The nightly check on {DATE} flags this value. cpk is out "
                              "of range. Check the lab report.")
    assert (res["current_query_status"], res["response_requested"], res["ts"]) == (
        "OPEN", 1, TS)
    assert keys == [flag_key(_flag())] and plan.rows == []


def test_whole_instance_flags_are_left_out():
    assert not plan_sync([_flag(field="")], {}, [], {}, **COMMON).new


def test_a_second_flag_on_a_queried_cell_joins_its_query_by_status_id():
    """One query per cell in REDCap: without status_id the module would store the
    comment against no query."""
    old = _flag()
    other = _flag(rule="required", message="cpk is empty")
    links = {flag_key(old): Link(5, "open", None, "2025-01-31 02:00:00")}
    query = _query("OPEN", _res(1, "2025-01-31 02:00:00"))
    plan = plan_sync([old, other], links, [query], {}, **COMMON)
    [row] = plan.rows
    assert row["status_id"] == "5" and "cpk is empty" in row["resolutions"][0]["comment"]
    assert plan.links[flag_key(other)].status_id == 5 and not plan.new


def test_a_step_is_stamped_after_the_threads_latest():
    """The server's clock may be ahead (its time zone): the step goes one second after."""
    links = {flag_key(_flag()): Link(5, "open", None, "2025-01-31 02:00:00")}
    query = _query("OPEN", _res(1, "2025-01-31 02:00:00"), _res(2, "2025-02-01 03:00:00"))
    plan = plan_sync([_flag(status="resolved")], links, [query], {}, **COMMON)
    [row] = plan.rows
    assert row["resolutions"][0]["ts"] == "2025-02-01 03:00:01"
    assert row["resolutions"][0]["current_query_status"] == "CLOSED"
    assert plan.links[flag_key(_flag())] == Link(5, "closed", None, "2025-02-01 03:00:01")


def test_confirmed_correct_after_the_syncs_last_step_accepts_before_it_does_not():
    ours = "2025-01-31 02:00:00"
    links = {flag_key(_flag()): Link(5, "open", None, ours)}
    accepted = _query("CLOSED", _res(1, ours), _res(2, "2025-01-31 09:00:00",
                                                   "CONFIRMED_CORRECT"),
                      _res(3, "2025-01-31 09:01:00", status="CLOSED"))
    plan = plan_sync([_flag()], links, [accepted], {cell_of(_flag()): "h1"}, **COMMON)
    assert plan.statuses == {flag_key(_flag()): "accepted"} and plan.rows == []
    assert plan.links[flag_key(_flag())].accepted_value == "h1"
    # an old CONFIRMED_CORRECT, before the sync's own later step, is not an acceptance
    stale = _query("CLOSED", _res(1, "2025-01-20 02:00:00"),
                   _res(2, "2025-01-20 09:00:00", "CONFIRMED_CORRECT"), _res(3, ours))
    plan = plan_sync([_flag()], links, [stale], {}, **COMMON)
    assert plan.statuses == {} and plan.counts["reopened"] == 1
    assert plan.rows[0]["resolutions"][0]["comment"].startswith(
        f"The nightly check on {DATE} still flags this value.")


def test_an_answer_and_close_in_the_second_of_the_syncs_step_still_accept():
    """One-second times: the coordinator's CONFIRMED_CORRECT and close may share the
    sync's ts; they come after it in the thread, so they are an acceptance."""
    ours = "2025-01-31 02:00:00"
    links = {flag_key(_flag()): Link(5, "open", None, ours)}
    query = _query("CLOSED", _res(1, ours), _res(2, ours, "CONFIRMED_CORRECT"),
                   _res(3, ours, status="CLOSED", user="dr.paris"))
    plan = plan_sync([_flag()], links, [query], {cell_of(_flag()): "h1"}, **COMMON)
    assert plan.statuses == {flag_key(_flag()): "accepted"} and plan.rows == []
    # a close alone within that second is no acceptance: the flag's query is reopened
    closed = _query("CLOSED", _res(1, ours), _res(2, ours, status="CLOSED", user="dr.paris"))
    plan = plan_sync([_flag()], links, [closed], {}, **COMMON)
    assert plan.statuses == {} and plan.counts["reopened"] == 1


def test_acceptance_holds_without_the_module_until_the_value_changes():
    links = {flag_key(_flag()): Link(5, "accepted", "h1", "2025-01-31 02:00:00")}
    same = plan_sync([_flag()], links, None, {cell_of(_flag()): "h1"}, **COMMON)
    assert same.statuses == {flag_key(_flag()): "accepted"} and not same.rows
    changed = plan_sync([_flag()], links, None, {cell_of(_flag()): "h2"}, **COMMON)
    assert changed.statuses == {} and not changed.rows  # open again; REDCap told later
    query = _query("CLOSED", _res(1, "2025-01-31 02:00:00"),
                   _res(2, "2025-01-31 09:00:00", "CONFIRMED_CORRECT"))
    raised = plan_sync([_flag()], links, [query], {cell_of(_flag()): "h2"}, **COMMON)
    assert raised.statuses == {} and raised.counts["raised"] == 1
    assert raised.rows[0]["resolutions"][0]["comment"].startswith("The value changed")
    assert raised.links[flag_key(_flag())].state == "open"


def test_a_query_the_sync_did_not_open_is_never_closed_by_it():
    query = _query("OPEN", _res(1, "2025-01-31 02:00:00", user="dr.paris"))
    assert plan_sync([_flag(status="resolved")], {}, [query], {}, **COMMON).rows == []
