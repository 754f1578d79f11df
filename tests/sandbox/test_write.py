"""Import, delete, modification times and the log (REDCAP_API.md §2-§5).

Each test gets its own sandbox on a `ManualClock` (from conftest.SANDBOX_START), so
time moves only when the test says and incremental-pull windows are exact.
"""

from __future__ import annotations

from datetime import datetime

import pytest
import redcap
import requests

from registry.sandbox.server import SandboxServer
from tests.conftest import SANDBOX_START

START = datetime.fromisoformat(SANDBOX_START)


@pytest.fixture
def admin(sandbox: SandboxServer) -> redcap.Project:
    return redcap.Project(sandbox.url, sandbox.tokens.project)


def _post(server: SandboxServer, token: str | None = None, **params: str) -> requests.Response:
    data = {"token": server.tokens.project if token is None else token, **params}
    return requests.post(server.url, data=data, timeout=5)


def _ids(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["record_id"] for r in rows))


def test_import_then_export_shows_change_and_its_modification_time(sandbox, admin):
    """§5: an import stamps the record; dateRangeBegin picks up exactly the records
    changed at or after it (inclusive, to the second)."""
    sandbox.clock.advance(hours=2)
    assert admin.import_records([{"record_id": "3", "ferritin": "812.5"}]) == {"count": 1}
    when = START.replace(hour=11)
    assert admin.export_records(records=["3"], fields=["ferritin"])[0]["ferritin"] == "812.5"
    assert _ids(admin.export_records(fields=["record_id"], date_begin=when)) == ["3"]
    after = when.replace(second=1)
    assert admin.export_records(fields=["record_id"], date_begin=after) == []
    assert _ids(admin.export_records(fields=["record_id"], date_end=START)) == ["1", "2", "3",
                                                                                 "10"]


def test_unchanged_import_does_not_stamp_or_log(sandbox, admin):
    sandbox.clock.advance(hours=1)
    assert admin.import_records([{"record_id": "3", "sex": "1"}]) == {"count": 1}
    assert admin.export_records(fields=["record_id"], date_begin=START.replace(hour=10)) == []
    assert admin.export_logging(log_type="record_edit") == []


def test_window_date_alone_spans_the_day_and_unparsable_means_no_bound(sandbox):
    """§5: a date alone spans 00:00:00-23:59:59; an unparsable bound is no bound, no error."""
    sandbox.clock.advance(days=1)
    _post(sandbox, content="record", format="json", data='[{"record_id":"10","cpk":"90"}]')
    fields = {"format": "json", "content": "record", "fields[0]": "record_id"}
    day = _post(sandbox, dateRangeBegin="2025-01-07", dateRangeEnd="2025/01/07", **fields)
    assert _ids(day.json()) == ["10"]
    junk = _post(sandbox, dateRangeBegin="yesterday", **fields)
    assert (junk.status_code, _ids(junk.json())) == (200, ["1", "2", "3", "10"])
    end_only = _post(sandbox, dateRangeEnd="2025-01-06 23:00", **fields)
    assert _ids(end_only.json()) == ["1", "2", "3", "10"]


def test_import_csv_and_repeat_instance(sandbox, admin):
    csv_text = ("record_id,redcap_repeat_instrument,redcap_repeat_instance,trt_class,trt_name,"
                "trt_start,trt_ongoing\n2,treatments,1,3,31,2020-02-15,0\n")
    assert admin.import_records(csv_text, import_format="csv") == {"count": 1}
    rows = admin.export_records(records=["2"], forms=["treatments"])
    assert rows[1]["redcap_repeat_instance"] == 1 and rows[1]["trt_name"] == "31"


def test_normal_keeps_values_overwrite_blanks_them(sandbox, admin):
    """§1: overwriteBehavior normal ignores blanks; overwrite erases with them."""
    admin.import_records([{"record_id": "2", "cpk": ""}])
    assert admin.export_records(records=["2"], fields=["cpk"])[0]["cpk"] == "1200"
    admin.import_records([{"record_id": "2", "cpk": ""}], overwrite="overwrite")
    assert admin.export_records(records=["2"], fields=["cpk"])[0]["cpk"] == ""


def test_return_content_ids_count_nothing_and_auto_ids(sandbox, admin):
    """§2 import reply: ids list, count, empty body for nothing, `new,sent` auto ids."""
    assert admin.import_records([{"record_id": "20"}, {"record_id": "21"}],
                                return_content="ids") == ["20", "21"]
    reply = _post(sandbox, content="record", format="json", returnContent="nothing",
                  data='[{"record_id":"22"}]')
    assert (reply.status_code, reply.text) == (200, "")
    reply = _post(sandbox, content="record", format="json", returnContent="auto_ids",
                  forceAutoNumber="true", data='[{"record_id":"x1"},{"record_id":"x2"}]')
    assert reply.json() == ["23,x1", "24,x2"]


def test_validation_errors_list_every_bad_value(admin):
    """§3: 400 with one `"record","field","value","message"` line per problem. An integer
    field gets REDCap's generic text: 15.7.6 maps the stored legacy `int` to `integer`
    before choosing the message, so its "must be an integer" case is never reached."""
    with pytest.raises(redcap.RedcapError) as err:
        admin.import_records([{"record_id": "1", "birth_date": "1990-13-01",
                               "mda5_titre": "12.5", "sex": "5"}])
    assert err.value.args[0]["error"].split("\n") == [
        '"1","birth_date","1990-13-01","Invalid date format. (NOTE: Dates must be imported '
        'here only in Y-M-D format, regardless of the specific date format designated for '
        'this field.)"',
        '"1","mda5_titre","12.5","The value you provided could not be validated because it '
        'does not follow the expected format. Please try again."',
        '"1","sex","5","The value is not a valid category for sex"']
    assert admin.export_records(records=["1"], fields=["sex"])[0]["sex"] == "1"


def test_unknown_fields_and_bad_json_are_refused(sandbox, admin):
    with pytest.raises(redcap.RedcapError) as err:
        admin.import_records([{"record_id": "1", "colour": "red", "size": "2"}])
    assert err.value.args[0] == {"error": "The following fields were not found in the project "
                                          "as real data fields: colour, size"}
    reply = _post(sandbox, content="record", format="json", returnFormat="json", data="[{")
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("The data being imported is not formatted "
                                            "correctly. PHP error from JSON decoder:")


def test_dmy_dates_are_reordered(sandbox, admin):
    """§7: with dateFormat DMY a `/` date is read day first and stored Y-M-D."""
    admin.import_records([{"record_id": "10", "last_fu_date": "31/12/2023"}], date_format="DMY")
    assert admin.export_records(records=["10"], fields=["last_fu_date"])[0][
        "last_fu_date"] == "2023-12-31"


def test_dag_token_import_joins_its_dag(sandbox):
    """§4: a DAG member's new record joins its DAG and gets `<group id>-n` by auto-number."""
    lyon = redcap.Project(sandbox.url, sandbox.tokens["lyon"])
    name = lyon.generate_next_record_name()
    assert name == "102-1"
    lyon.import_records([{"record_id": name, "sex": "2"}])
    assert _ids(lyon.export_records(fields=["record_id"])) == ["2", "3", "102-1"]
    paris = redcap.Project(sandbox.url, sandbox.tokens["paris"])
    assert "102-1" not in _ids(paris.export_records(fields=["record_id"]))
    assert sandbox.project.records["102-1"].dag == "lyon"
    assert lyon.generate_next_record_name() == "102-2"


def test_delete_is_logged_and_leaves_the_export(sandbox, admin):
    """§2/§5: delete answers a bare count; the deletion shows in the log (record_delete)
    and the record leaves exports, which is how incremental pulls find it."""
    sandbox.clock.advance(minutes=30)
    reply = _post(sandbox, content="record", action="delete", returnFormat="json",
                  **{"records[0]": "3"})
    assert (reply.status_code, reply.text) == (200, "1")
    assert admin.delete_records(["10"]) == 1
    assert _ids(admin.export_records(fields=["record_id"])) == ["1", "2"]
    log = admin.export_logging(log_type="record_delete")
    assert [(e["record"], e["action"], e["timestamp"]) for e in log] == [
        ("10", "Delete record (API) 10", "2025-01-06 09:30"),
        ("3", "Delete record (API) 3", "2025-01-06 09:30")]
    assert admin.export_logging(log_type="record_delete", begin_time=START.replace(minute=31)
                                ) == []


def test_delete_unknown_ids_is_refused_and_deletes_nothing(sandbox, admin):
    with pytest.raises(redcap.RedcapError) as err:
        admin.delete_records(["1", "7", "9"])
    assert err.value.args[0] == {"error": "One or more of the records provided cannot be "
                                          "deleted because they do not exist in the project. "
                                          "The following records do not exist: 7, 9"}
    assert "1" in sandbox.project.records


def test_dag_token_cannot_delete_another_dags_record(sandbox):
    lyon = redcap.Project(sandbox.url, sandbox.tokens["lyon"])
    with pytest.raises(redcap.RedcapError, match="do not exist"):
        lyon.delete_records(["1"])


def test_log_filters_and_dag_scope(sandbox, admin):
    """§4/§5: log entries `{timestamp, username, action, details, record}` newest first;
    filtered by logtype, record and time; a DAG token sees only its DAG's entries."""
    sandbox.clock.advance(minutes=5)
    admin.import_records([{"record_id": "1", "ferritin": "300"}])
    sandbox.clock.advance(minutes=5)
    admin.import_records([{"record_id": "2", "ferritin": "400"}])
    edits = admin.export_logging(log_type="record_edit")
    assert [e["record"] for e in edits] == ["2", "1"]
    assert edits[1] == {"timestamp": "2025-01-06 09:05", "username": "sandbox_admin",
                        "action": "Update record (API) 1", "details": "ferritin = '300'",
                        "record": "1"}
    assert [e["record"] for e in admin.export_logging(log_type="record", record="1")] == [
        "1", "1"]
    lyon = redcap.Project(sandbox.url, sandbox.tokens["lyon"])
    assert {e["record"] for e in lyon.export_logging(log_type="record")} == {"2", "3"}
    window = admin.export_logging(log_type="record_edit", begin_time=START.replace(minute=6),
                                  end_time=START.replace(minute=10, second=0))
    assert [e["record"] for e in window] == ["2"]


def test_dag_token_cannot_import_into_another_dags_record(sandbox):
    """§4: records of other DAGs are out of a DAG member's reach, import included."""
    lyon = redcap.Project(sandbox.url, sandbox.tokens["lyon"])
    with pytest.raises(redcap.RedcapError) as err:
        lyon.import_records([{"record_id": "1", "ferritin": "5"}])
    assert err.value.args[0] == {"error": "The following records cannot be modified because "
                                          "they do not belong to your Data Access Group: 1"}
    assert "ferritin" not in sandbox.project.records["1"].base


def test_new_repeat_instance_and_log_dag_filter(sandbox, admin):
    """Instance `new` appends after the last one; the log filters by DAG (name or id)."""
    admin.import_records([{"record_id": "2", "redcap_repeat_instrument": "icu_stay",
                           "redcap_repeat_instance": "new", "icu_admit_date": "2020-06-01"}])
    rows = admin.export_records(records=["2"], forms=["icu_stay"])
    assert [r["redcap_repeat_instance"] for r in rows] == ["", 1, 2]
    by_name = admin.export_logging(log_type="record_edit", dag="lyon")
    by_id = admin.export_logging(log_type="record_edit", dag="102")
    assert [e["record"] for e in by_name] == [e["record"] for e in by_id] == ["2"]
    assert admin.export_logging(log_type="record_edit", dag="paris") == []


def test_import_into_a_non_repeating_form_as_repeat_is_refused(admin):
    """REDCap's message for a repeat row naming a non-repeating form (PyCap issue #154)."""
    with pytest.raises(redcap.RedcapError) as err:
        admin.import_records([{"record_id": "1", "redcap_repeat_instrument": "outcome",
                               "redcap_repeat_instance": "2", "vital_status": "1"}])
    assert err.value.args[0]["error"].startswith(
        '"1","redcap_repeat_instrument","outcome","redcap_repeat_instrument must be the '
        'unique form name of a Repeating Instrument.')


def test_design_changes_and_dictionary_downloads_are_logged_as_manage_design(sandbox, admin):
    """REDCap logs a design change, and a dictionary download, as a "Manage/Design"
    event (logtype `manage`), in no DAG: a project-wide token sees them, record logtypes
    do not, and a DAG member's log (scoped to its DAG) does not show them."""
    from registry.sandbox.schema import Schema

    admin.export_metadata()
    sandbox.clock.advance(minutes=3)
    old = sandbox.project.schema
    sandbox.project.schema = Schema(old.metadata[:-1], old.repeating)  # a field dropped
    assert sandbox.project.schema.metadata == old.metadata[:-1]
    manage = admin.export_logging(log_type="manage")
    assert manage == [
        {"timestamp": "2025-01-06 09:03", "username": "sandbox_designer",
         "action": "Manage/Design", "details": "Upload data dictionary", "record": ""},
        {"timestamp": "2025-01-06 09:00", "username": "sandbox_admin",
         "action": "Manage/Design", "details": "Download data dictionary (API)", "record": ""}]
    assert admin.export_logging(log_type="manage", begin_time=START.replace(minute=1)) == \
        manage[:1]
    assert all(e["action"] != "Manage/Design" for e in admin.export_logging(log_type="record"))
    assert manage[0] in admin.export_logging()  # every type
    lyon = redcap.Project(sandbox.url, sandbox.tokens["lyon"])
    assert lyon.export_logging(log_type="manage") == []
