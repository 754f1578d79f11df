"""Longitudinal projects as REDCap 15.7.6 serves them, through PyCap (scenarios
`longitudinal` and `repeating_event`; facts in their READMEs)."""

from __future__ import annotations

import pytest
import redcap
import requests

from registry.sandbox.server import SandboxServer
from tests.scenarios import scenario_path


@pytest.fixture(scope="module")
def two_arms():
    with SandboxServer.from_folder(scenario_path("longitudinal")) as server:
        yield server


@pytest.fixture(scope="module")
def admin(two_arms) -> redcap.Project:
    return redcap.Project(two_arms.url, two_arms.tokens.project)


@pytest.fixture
def writable():
    with SandboxServer.from_folder(scenario_path("longitudinal")) as server:
        yield redcap.Project(server.url, server.tokens.project)


def _post(server: SandboxServer, **params: str) -> requests.Response:
    return requests.post(server.url, data={"token": server.tokens.project, **params}, timeout=5)


def test_events_carry_scheduling_offsets_and_integer_event_ids(admin, two_arms):
    events = admin.export_events()
    assert events[0] == {"event_name": "Screening", "arm_num": 1, "day_offset": 0,
                         "offset_min": 0, "offset_max": 0,
                         "unique_event_name": "screening_arm_1", "custom_event_label": "",
                         "event_id": 501}
    assert [e["unique_event_name"] for e in admin.export_events(arms=["2"])] == [
        "screening_arm_2", "baseline_arm_2", "month_3_arm_2", "month_6_arm_2",
        "month_12_arm_2"]
    text = _post(two_arms, content="event", format="csv").text
    assert text.split("\n")[0] == ("event_name,arm_num,day_offset,offset_min,offset_max,"
                                   "unique_event_name,custom_event_label,event_id")


def test_arms_and_mapping_take_the_arms_filter(admin):
    assert admin.export_arms() == [{"arm_num": 1, "name": "Standard care"},
                                   {"arm_num": 2, "name": "Intervention"}]
    assert admin.export_arms(arms=["2"]) == [{"arm_num": 2, "name": "Intervention"}]
    mapping = admin.export_instrument_event_mappings(arms=["2"])
    assert {m["arm_num"] for m in mapping} == {2}
    assert [m["form"] for m in mapping if m["unique_event_name"] == "baseline_arm_2"] == [
        "demographics", "vitals", "labs"]


def test_pycap_sees_a_longitudinal_project(admin):
    """PyCap's is_longitudinal asks formEventMapping; its data frame is indexed by id and
    event (REDCAP_API.md §1, §2)."""
    assert admin.is_longitudinal
    frame = admin.export_records(format_type="df")
    assert list(frame.index.names) == ["record_id", "redcap_event_name"]
    assert len(frame) == 19


def test_one_row_per_record_and_event_with_undesignated_forms_blank(admin):
    rows = admin.export_records(records=["1"])
    assert [r["redcap_event_name"] for r in rows] == [
        "screening_arm_1", "baseline_arm_1", "month_6_arm_1", "month_12_arm_1"]
    assert list(rows[0])[:2] == ["record_id", "redcap_event_name"]
    screening, baseline = rows[0], rows[1]
    assert screening["inclusion___3"] == "0" and screening["eligibility_complete"] == "2"
    assert screening["dob"] == screening["demographics_complete"] == ""
    assert baseline["inclusion___1"] == baseline["eligibility_complete"] == ""
    assert baseline["outcome_complete"] == ""  # outcome is on month 12 only


def test_an_event_opened_with_nothing_entered_shows_its_defaults(admin):
    row = admin.export_records(records=["2"], events=["month_6_arm_1"])[0]
    assert (row["visit_date"], row["vitals_complete"], row["labs_complete"]) == ("", "0", "0")
    blank_gray = admin.export_records(records=["2"], events=["month_6_arm_1"],
                                      export_blank_for_gray_form_status=True)[0]
    assert blank_gray["vitals_complete"] == ""


def test_events_filter_and_its_refusal(admin, two_arms):
    rows = admin.export_records(events=["month_12_arm_1", "month_12_arm_2"],
                                fields=["record_id", "status"])
    assert [(r["record_id"], r["redcap_event_name"], r["status"]) for r in rows] == [
        ("1", "month_12_arm_1", "1"), ("101", "month_12_arm_2", "2"),
        ("102", "month_12_arm_2", "3")]
    with pytest.raises(redcap.RedcapError) as err:
        admin.export_records(events=["month_9_arm_1", "baseline_arm_1"])
    assert err.value.args[0] == {"error": 'The following values in the parameter "events" are '
                                          "not valid: 'month_9_arm_1'"}
    reply = _post(two_arms, content="record", format="json", events="month_9_arm_1",
                  **{"fields[0]": "record_id"})
    assert reply.status_code == 200  # a comma string is not checked (REDCap checks arrays)


def test_fields_record_id_gives_one_row_per_record_and_event(admin):
    rows = admin.export_records(fields=["record_id"])
    assert len(rows) == 19 and list(rows[0]) == ["record_id", "redcap_event_name"]


def test_label_export_names_the_event_with_its_arm(admin):
    row = admin.export_records(records=["101"], raw_or_label="label")[2]
    assert row["redcap_event_name"] == "Month 3 (Arm 2: Intervention)"
    assert row["fever"] == "Yes"


def test_eav_carries_the_event(admin):
    rows = admin.export_records(records=["3"], format_type="json", record_type="eav")
    assert rows[0] == {"record": "3", "redcap_event_name": "screening_arm_1",
                       "field_name": "elig_date", "value": "2022-02-20"}


def test_import_refuses_a_form_the_event_does_not_hold(writable):
    with pytest.raises(redcap.RedcapError) as err:
        writable.import_records([{"record_id": "1", "redcap_event_name": "screening_arm_1",
                                  "sbp": "120", "inclusion___1": "1"}])
    assert err.value.args[0]["error"] == (
        "\"1\",\"sbp\",\"120\",\"This field ('sbp') exists on an instrument that is not "
        "designated for the event named 'Screening (Arm 1: Standard care)'. You are not "
        "allowed to import data for this field into this event.\"")
    assert writable.export_records(records=["1"], events=["screening_arm_1"])[0]["sbp"] == ""


def test_import_lands_on_its_event_or_on_the_first_one(writable):
    writable.import_records([{"record_id": "3", "redcap_event_name": "baseline_arm_1",
                              "dob": "1970-01-01", "sex": "1"}])
    writable.import_records([{"record_id": "3", "consent": "1"}])  # no event: the first
    rows = writable.export_records(records=["3"], fields=["record_id", "dob", "consent"])
    assert [(r["redcap_event_name"], r["dob"], r["consent"]) for r in rows] == [
        ("screening_arm_1", "", "1"), ("baseline_arm_1", "1970-01-01", "")]


def test_import_refuses_unknown_or_blank_event_names(writable):
    with pytest.raises(redcap.RedcapError) as err:
        writable.import_records([{"record_id": "1", "redcap_event_name": "week_2_arm_1",
                                  "sbp": "1"}])
    assert err.value.args[0] == {"error": "The following values of redcap_event_name are "
                                          "invalid: week_2_arm_1"}
    with pytest.raises(redcap.RedcapError) as err:
        writable.import_records([{"record_id": "1", "redcap_event_name": "", "sbp": "1"}])
    assert err.value.args[0] == {"error": "The record event name is missing."}


def test_delete_one_arm_of_a_record_or_one_form_on_one_event(writable):
    writable.delete_records(["1"], instrument="labs", event="month_6_arm_1")
    row = writable.export_records(records=["1"], events=["month_6_arm_1"])[0]
    assert (row["crp"], row["weight"]) == ("", "63")
    assert writable.delete_records(["101"], arm="2") == 1
    assert writable.export_records(records=["101"]) == []


# -- repeating events ------------------------------------------------------------------
@pytest.fixture(scope="module")
def visits():
    with SandboxServer.from_folder(scenario_path("repeating_event")) as server:
        yield server


def test_repeating_event_rows_have_a_blank_instrument_and_their_instance(visits):
    admin = redcap.Project(visits.url, visits.tokens.project)
    rows = admin.export_records(records=["1"])
    assert [(r["redcap_event_name"], r["redcap_repeat_instrument"],
             r["redcap_repeat_instance"]) for r in rows] == [
        ("enrolment_arm_1", "", ""), ("visit_arm_1", "", 1), ("visit_arm_1", "", 2),
        ("visit_arm_1", "", 3), ("followup_arm_1", "", ""),
        ("followup_arm_1", "adverse_event", 1), ("followup_arm_1", "adverse_event", 2),
        ("end_of_study_arm_1", "", "")]
    visit = rows[1]
    assert visit["sym_list___1"] == "1" and visit["sym_list___2"] == "0"
    assert visit["visit_symptoms_complete"] == "2" and visit["ae_term"] == ""
    followup = rows[4]
    assert followup["vv_weight"] == "71.0" and followup["sym_list___1"] == ""
    assert followup["adverse_event_complete"] == ""  # repeats there: not on the base row
    assert admin.export_repeating_instruments_events() == [
        {"event_name": "visit_arm_1", "form_name": "", "custom_form_label": ""},
        {"event_name": "followup_arm_1", "form_name": "adverse_event",
         "custom_form_label": ""}]


def test_import_into_a_repeating_event(sandbox_factory):
    server = SandboxServer.from_folder(scenario_path("repeating_event")).start()
    try:
        admin = redcap.Project(server.url, server.tokens.project)
        admin.import_records([{"record_id": "4", "redcap_event_name": "visit_arm_1",
                               "redcap_repeat_instrument": "", "redcap_repeat_instance": "new",
                               "vv_date": "2023-06-19", "sym_list___4": "1"}])
        rows = admin.export_records(records=["4"], events=["visit_arm_1"])
        assert [r["redcap_repeat_instance"] for r in rows] == [1, 3, 4]
        assert rows[2]["sym_list___4"] == "1" and rows[2]["visit_symptoms_complete"] == "0"
        with pytest.raises(redcap.RedcapError) as err:
            admin.import_records([{"record_id": "4", "redcap_event_name": "visit_arm_1",
                                   "vv_temp": "37.0"}])
        assert err.value.args[0]["error"].startswith(
            'The record name (4) with event "visit_arm_1" cannot be imported. This is because '
            "this event is a repeating event, but the field 'redcap_repeat_instance' could not "
            "be found in the data import fields.")
        with pytest.raises(redcap.RedcapError) as err:
            admin.import_records([{"record_id": "4", "redcap_event_name": "visit_arm_1",
                                   "redcap_repeat_instrument": "visit_vitals",
                                   "redcap_repeat_instance": "1", "vv_temp": "37.0"}])
        assert err.value.args[0]["error"].startswith(
            '"4","redcap_repeat_instrument","visit_vitals","(redcap_event_name=\\"visit_arm_1'
            '\\") redcap_repeat_instrument should not have a value. This is a Repeating Event'
            .replace('\\"', '""'))
    finally:
        server.stop()
