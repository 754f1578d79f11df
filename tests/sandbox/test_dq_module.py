"""The Data Quality API module and the DRW state, over HTTP (REDCAP_API.md §6 and
vanderbilt-redcap/data_quality_api's export.php/import.php; `registry.sandbox.dq_module`).

The coordinator's side goes through the admin door (`/_sandbox/dq/...`), as a test
playing the coordinator from another process would; the module through `requests`
(PyCap has no method for it), with the POST fields jubilee2/redcapdqapi sends.
"""

from __future__ import annotations

import json

import pytest
import redcap
import requests

from registry.sandbox.server import SandboxServer
from tests.scenarios import scenario_path


def _module(server: SandboxServer, page: str, token: str | None = None, pid: int | None = None,
            **fields: str) -> requests.Response:
    pid = server.project.project_id if pid is None else pid
    url = (f"{server.url}?prefix=vanderbilt_dataQuality&page={page}&type=module&NOAUTH"
           f"&pid={pid}")
    data = {"token": server.tokens.project if token is None else token, "format": "json",
            "returnFormat": "json", **fields}
    return requests.post(url, data=data, timeout=5)


def _admin(server: SandboxServer, action: str, **body) -> dict:
    reply = requests.post(f"{server.admin_url}dq/{action}", json=body, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _row(server: SandboxServer, record: str, field: str, *, status_id: str = "",
         event_id: str = "", instance: str = "1", repeat_instrument=None,
         resolutions: list[dict] | None = None) -> dict:
    return {"status_id": status_id, "project_id": str(server.project.project_id),
            "record": record, "event_id": event_id, "field_name": field,
            "instance": instance, "repeat_instrument": repeat_instrument,
            "assigned_username": None,
            "resolutions": resolutions if resolutions is not None else [
                {"res_id": "", "status_id": status_id, "ts": "2025-01-06 10:00:00",
                 "username": "sandbox_admin", "comment": "Please check this value.",
                 "response_requested": 1, "response": None, "current_query_status": "OPEN"}]}


def _import(server: SandboxServer, rows: list[dict]) -> list[int]:
    reply = _module(server, "import", data=json.dumps(rows))
    assert reply.status_code == 200, reply.text
    return reply.json()


def _export(server: SandboxServer, **fields: str):
    reply = _module(server, "export", **fields)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith(
        "application/json")
    return reply.json()


def test_empty_export_bad_token_wrong_pid_and_disabled_module(sandbox):
    assert _export(sandbox) == []
    bad = _module(sandbox, "export", token="0" * 32)
    assert (bad.status_code, bad.json()) == (403, {"error": "You do not have permissions to "
                                                            "use the API"})
    wrong = _module(sandbox, "export", pid=999)
    assert (wrong.status_code, wrong.text) == (200, "")  # the module's die()
    _admin(sandbox, "settings", enabled=False)
    off = _module(sandbox, "export")
    assert off.status_code == 200 and off.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        off.json()


def test_a_coordinators_query_is_exported_in_the_modules_shape(sandbox):
    """Strings or null everywhere, `group_id` the record's DAG id, `assigned_username`
    last, resolutions keyed by res_id (the module's README example)."""
    _admin(sandbox, "open", record="2", field="cpk", comment="CPK above range?",
           username="dr.lyon", assigned_username="dr.lyon")
    exported = _export(sandbox)
    assert list(exported) == ["1"]
    query = exported["1"]
    assert list(query) == ["status_id", "rule_id", "pd_rule_id", "non_rule", "project_id",
                           "record", "event_id", "field_name", "repeat_instrument", "instance",
                           "status", "exclude", "query_status", "group_id",
                           "assigned_username", "resolutions"]
    assert {k: v for k, v in query.items() if k != "resolutions"} == {
        "status_id": "1", "rule_id": None, "pd_rule_id": None, "non_rule": "1",
        "project_id": "17", "record": "2", "event_id": "40001", "field_name": "cpk",
        "repeat_instrument": None, "instance": "1", "status": None, "exclude": "0",
        "query_status": "OPEN", "group_id": "102", "assigned_username": "dr.lyon"}
    assert query["resolutions"] == {"1": {
        "res_id": "1", "status_id": "1", "ts": "2025-01-06 09:00:00", "response_requested": "1",
        "response": None, "comment": "CPK above range?", "current_query_status": "OPEN",
        "upload_doc_id": None, "field_comment_edited": "0", "username": "dr.lyon"}}


def test_import_opens_a_query_then_adds_to_it_and_skips_duplicates(sandbox):
    """A new cell gets a new query; with its status_id a later resolution joins it; the
    same ts and user again is skipped (REDCAP_API.md §6: import only adds comments)."""
    [first] = _import(sandbox, [_row(sandbox, "1", "ferritin")])
    query = _export(sandbox)["1"]
    assert (query["query_status"], query["field_name"], first) == ("OPEN", "ferritin", 1)
    later = {"res_id": "", "status_id": "1", "ts": "2025-01-07 08:00:00",
             "username": "sandbox_admin", "comment": "Fixed in REDCap, confirmed by the "
             "nightly check on 2025-01-07.", "response_requested": 0,
             "current_query_status": "CLOSED"}
    assert _import(sandbox, [_row(sandbox, "1", "ferritin", status_id="1",
                                  resolutions=[later])]) == [2]
    assert _export(sandbox)["1"]["query_status"] == "CLOSED"
    assert _import(sandbox, [_row(sandbox, "1", "ferritin", status_id="1",
                                  resolutions=[later])]) == []
    assert len(_export(sandbox)["1"]["resolutions"]) == 2


def test_without_a_status_id_a_second_row_for_the_cell_is_lost(sandbox):
    """The module's lookup query is malformed without a numeric status_id, so a row for
    a cell that has a query makes no new one (the unique key refuses it) and its
    comments go nowhere: counted in the reply, never exported."""
    _import(sandbox, [_row(sandbox, "1", "ferritin")])
    again = _row(sandbox, "1", "ferritin")
    again["resolutions"][0]["ts"] = "2025-01-08 10:00:00"
    assert _import(sandbox, [again]) == [2]
    assert len(_export(sandbox)) == 1 and len(_export(sandbox)["1"]["resolutions"]) == 1
    assert [r.comment for r in sandbox.dq.orphans()] == ["Please check this value."]
    assert requests.get(f"{sandbox.admin_url}dq", timeout=5).json()["orphans"][0][
        "status_id"] == "0"


def test_a_new_query_never_keeps_its_repeat_instrument(sandbox):
    """The module's documented limitation: repeat_instrument is not stored, so the query
    cannot be found again by it."""
    row = _row(sandbox, "1", "trt_stop", instance="2", repeat_instrument="treatments")
    [res] = _import(sandbox, [row])
    query = _export(sandbox)["1"]
    assert (query["repeat_instrument"], query["instance"]) == (None, "2")
    by_instrument = _row(sandbox, "1", "trt_stop", status_id="999", instance="2",
                         repeat_instrument="treatments")
    by_instrument["resolutions"][0]["ts"] = "2025-01-09 10:00:00"
    assert _import(sandbox, [by_instrument]) == [res + 1]
    assert len(_export(sandbox)["1"]["resolutions"]) == 1  # not found: stored elsewhere
    assert len(sandbox.dq.orphans()) == 1


def test_the_coordinator_answers_confirmed_correct_and_the_export_filters(sandbox):
    _import(sandbox, [_row(sandbox, "1", "ferritin"), _row(sandbox, "2", "cpk")])
    _admin(sandbox, "respond", status_id=2, response="CONFIRMED_CORRECT",
           comment="Checked against the lab report: 1200 is right.", username="dr.lyon")
    answered = _export(sandbox)["2"]
    assert answered["query_status"] == "OPEN"
    last = list(answered["resolutions"].values())[-1]
    assert (last["response"], last["current_query_status"], last["username"]) == (
        "CONFIRMED_CORRECT", "OPEN", "dr.lyon")
    _admin(sandbox, "close", status_id=2, comment="Accepted.", username="sandbox_admin")
    assert list(_export(sandbox, status="OPEN")) == ["1"]
    assert list(_export(sandbox, status="CLOSED")) == ["2"]
    assert list(_export(sandbox, record="2")) == ["2"]
    assert list(_export(sandbox, **{"record[0]": "1", "record[1]": "2"})) == ["1", "2"]
    assert list(_export(sandbox, records="2")) == ["1", "2"]  # not a filter the module reads
    _admin(sandbox, "reopen", status_id=2, comment="Value changed again.")
    assert _export(sandbox)["2"]["query_status"] == "OPEN"


def test_a_dag_token_sees_every_query(sandbox):
    """The module checks the token, not its DAG: a client must filter by site itself."""
    _import(sandbox, [_row(sandbox, "1", "ferritin"), _row(sandbox, "2", "cpk")])
    lyon = _export(sandbox, token=sandbox.tokens["lyon"])
    assert {q["record"] for q in lyon.values()} == {"1", "2"}
    assert {q["group_id"] for q in lyon.values()} == {"101", "102"}


def test_rows_the_module_skips_and_the_drw_switch(sandbox):
    rows = [_row(sandbox, "1", "no_such_field"), _row(sandbox, "", "sex"),
            {**_row(sandbox, "1", "sex"), "project_id": "999"}]
    assert _import(sandbox, rows) == []
    assert _export(sandbox) == []
    _admin(sandbox, "settings", drw=0)
    off = _module(sandbox, "import", data=json.dumps([_row(sandbox, "1", "sex")]))
    assert (off.status_code, off.json()) == (403, {
        "error": "Data may not be imported because the project does not have data quality "
                 "enabled."})
    _admin(sandbox, "settings", drw=2)
    bad_json = _module(sandbox, "import", data="{nope")
    assert (bad_json.status_code, bad_json.json()) == (200, [])  # json_decode: null
    no_thread = {k: v for k, v in _row(sandbox, "1", "sex").items() if k != "resolutions"}
    assert _module(sandbox, "import", data=json.dumps([no_thread])).status_code == 500


def test_a_query_on_a_field_since_deleted_is_not_exported(sandbox):
    _import(sandbox, [_row(sandbox, "1", "ferritin"), _row(sandbox, "2", "cpk")])
    project = sandbox.project
    old = project.schema
    with project.lock:
        from registry.sandbox.schema import Schema

        project.schema = Schema([m for m in old.metadata if m["field_name"] != "cpk"],
                                old.repeating)
    try:
        assert list(_export(sandbox)) == ["1"]
    finally:
        project.schema = old


def test_longitudinal_events_must_be_the_projects(tmp_path):
    with SandboxServer.from_folder(scenario_path("longitudinal")) as server:
        assert _import(server, [_row(server, "1", "sbp", event_id="999")]) == []
        assert _import(server, [_row(server, "1", "sbp", event_id="503")]) == [1]
        query = _export(server)["1"]
        assert (query["event_id"], query["group_id"]) == ("503", None)
        opened = _admin(server, "open", record="1", field="crp", event="month_12_arm_1",
                        comment="CRP missing?")
        assert opened["event_id"] == "504"


def test_a_module_fault_leaves_the_api_alone(sandbox):
    sandbox.faults.add("status", status=500, content="module")
    assert _module(sandbox, "export").status_code == 500
    assert _export(sandbox) == []
    project = redcap.Project(sandbox.url, sandbox.tokens.project)
    assert len(project.export_records(fields=["record_id"])) == 4


def test_the_coordinator_changes_a_value_on_the_form(sandbox):
    reply = requests.post(f"{sandbox.admin_url}record", json={
        "record": "2", "field": "cpk", "value": "950", "username": "dr.lyon"}, timeout=5)
    assert reply.json() == {"count": 1}
    project = redcap.Project(sandbox.url, sandbox.tokens.project)
    assert project.export_records(records=["2"], fields=["cpk"])[0]["cpk"] == "950"
    assert project.export_logging(log_type="record_edit")[0]["username"] == "dr.lyon"
    sandbox.set_value("1", "trt_stop", "2019-06-01", instance=2)
    rows = project.export_records(records=["1"], forms=["treatments"])
    assert rows[2]["trt_stop"] == "2019-06-01"
    bad = requests.post(f"{sandbox.admin_url}record", json={
        "record": "2", "field": "cpk", "value": "lots"}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["error"].startswith('"2","cpk","lots","The value you provided')
