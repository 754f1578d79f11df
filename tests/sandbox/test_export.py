"""Record export through real HTTP and the real PyCap client (REDCAP_API.md §1-§2)."""

from __future__ import annotations

import pytest
import redcap
import requests

from registry.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def admin(shared_sandbox: SandboxServer) -> redcap.Project:
    return redcap.Project(shared_sandbox.url, shared_sandbox.tokens.project)


def _post(server: SandboxServer, **params: str) -> requests.Response:
    return requests.post(server.url, data={"token": server.tokens.project, **params}, timeout=5)


def test_flat_json_key_order_is_id_repeat_columns_then_dictionary_order(admin):
    """§2 key order: id, redcap_repeat_instrument, redcap_repeat_instance, fields in
    dictionary order with `<form>_complete` after each form and checkboxes expanded."""
    row = admin.export_records()[0]
    keys = list(row)
    assert keys[:3] == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    assert keys[keys.index("hrct_pattern") + 1:keys.index("hrct_pattern") + 6] == [
        f"skin___{c}" for c in range(1, 6)]
    assert keys.index("baseline_notes") + 1 == keys.index("baseline_complete")
    assert keys[-1] == "outcome_complete"
    assert all(isinstance(v, str) for k, v in row.items() if k != "redcap_repeat_instance")


def test_repeat_instance_is_int_on_repeat_rows_and_empty_string_on_base_rows(admin):
    """§2: `redcap_repeat_instance` is "" on base rows and a JSON integer on repeat rows;
    a classic project gives one base row per record then one row per instance."""
    rows = admin.export_records(records=["1"])
    assert [(r["redcap_repeat_instrument"], r["redcap_repeat_instance"]) for r in rows] == [
        ("", ""), ("treatments", 1), ("treatments", 2), ("infections", 1)]
    assert rows[1]["sex"] == "" and rows[1]["baseline_complete"] == ""
    assert rows[0]["trt_name"] == "" and rows[0]["treatments_complete"] == ""


def test_records_sorted_numeric_aware_and_unknown_ids_omitted(admin):
    """§2: sort by record numerically ("10" after "3"); unknown record ids are omitted."""
    base = [r["record_id"] for r in admin.export_records(fields=["record_id"])]
    assert base == ["1", "2", "3", "10"]
    picked = admin.export_records(records=["10", "999", "2"], fields=["sex"])
    assert [r["record_id"] for r in picked] == ["2", "10"]


def test_comma_list_of_records_is_accepted(shared_sandbox):
    """§1: record export also takes `records` as a comma string."""
    reply = _post(shared_sandbox, content="record", format="json", records="3,1",
                  **{"fields[0]": "record_id"})
    assert [r["record_id"] for r in reply.json()] == ["1", "3"]


def test_fields_come_back_in_dictionary_order_whatever_the_request_order(admin):
    """§2: fields in dictionary order; a checkbox base name gives all its columns."""
    rows = admin.export_records(fields=["vital_status", "skin", "sex"], records=["3"])
    assert list(rows[0]) == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance",
                             "sex", "skin___1", "skin___2", "skin___3", "skin___4", "skin___5",
                             "vital_status"]


def test_forms_backfill_gives_form_fields_and_the_id(admin):
    """§1 PyCap backfill: forms only -> `<form>_complete` + the id field are sent."""
    rows = admin.export_records(forms=["icu_stay"], records=["2"])
    assert rows[1]["redcap_repeat_instrument"] == "icu_stay"
    assert rows[1]["icu_mv_date"] == "2020-03-02" and rows[1]["icu_stay_complete"] == "2"
    assert "sex" not in rows[0]


def test_invalid_fields_and_forms_raise_redcap_error(admin):
    """§3: 400 `The following values in the parameter "fields" are not valid: 'x', 'y'`."""
    with pytest.raises(redcap.RedcapError) as err:
        admin.export_records(fields=["nope", "sex", "bad"])
    assert err.value.args[0] == {"error": "The following values in the parameter \"fields\" "
                                          "are not valid: 'nope', 'bad'"}
    # PyCap's backfill sends `labs_complete` as a field, so a bad form surfaces as a field
    with pytest.raises(redcap.RedcapError) as err:
        admin.export_records(forms=["labs"])
    assert err.value.args[0]["error"].endswith("\"fields\" are not valid: 'labs_complete'")


def test_invalid_forms_raise_the_forms_message(shared_sandbox):
    reply = _post(shared_sandbox, content="record", format="json", **{"forms[0]": "labs"})
    assert reply.status_code == 400
    assert reply.json() == {"error": "The following values in the parameter \"forms\" are "
                                     "not valid: 'labs'"}


def test_invalid_fields_give_http_400(shared_sandbox):
    reply = _post(shared_sandbox, content="record", format="csv", **{"fields[0]": "zz"})
    assert reply.status_code == 400
    assert reply.text == "ERROR: The following values in the parameter \"fields\" are not " \
                         "valid: 'zz'"


def test_csv_export_matches_redcap_text(shared_sandbox):
    """§2 CSV: header then rows, PHP fputcsv quoting (spaces, commas, quotes), `\\n` ends."""
    reply = _post(shared_sandbox, content="record", format="csv", records="3",
                  **{"fields[0]": "record_id", "fields[1]": "baseline_notes",
                     "fields[2]": "vital_status"})
    assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert reply.text == (
        "record_id,redcap_repeat_instrument,redcap_repeat_instance,baseline_notes,"
        "vital_status\n"
        '3,,,"Referred, notes, ""quoted""",2\n')


def test_empty_export_is_empty_list_or_header_only(shared_sandbox):
    """§2: empty JSON export is `[]`; empty CSV is the header only."""
    assert _post(shared_sandbox, content="record", format="json", records="77").json() == []
    text = _post(shared_sandbox, content="record", format="csv", records="77",
                 **{"fields[0]": "record_id", "fields[1]": "sex"}).text
    assert text == "record_id,redcap_repeat_instrument,redcap_repeat_instance,sex\n"


def test_dataframe_export_is_indexed_by_record_id(admin):
    """§2 PyCap df: CSV read by pandas, indexed by the id; repeat columns stay columns."""
    df = admin.export_records(format_type="df")
    assert df.index.name == "record_id"
    assert list(df.index) == [1, 1, 1, 1, 2, 2, 3, 10]
    assert "redcap_repeat_instance" in df.columns


def test_label_mode_and_checkbox_labels(admin):
    """§2: rawOrLabel=label gives choice labels, Checked/Unchecked, instrument labels;
    exportCheckboxLabel gives the choice label or ""."""
    rows = admin.export_records(records=["1"], raw_or_label="label",
                                fields=["sex", "skin", "trt_name"])
    assert rows[0]["sex"] == "Female"
    assert (rows[0]["skin___1"], rows[0]["skin___2"]) == ("Checked", "Unchecked")
    assert rows[1]["trt_name"] == "Tofacitinib"
    assert rows[1]["redcap_repeat_instrument"] == "Treatments"
    labelled = admin.export_records(records=["1"], raw_or_label="label", fields=["skin"],
                                    export_checkbox_labels=True)
    assert (labelled[0]["skin___1"], labelled[0]["skin___2"]) == ("Gottron papules", "")


def test_export_data_access_groups_column(admin, shared_sandbox):
    """§2: `redcap_data_access_group` after the repeat columns: unique name, label in
    label mode; a DAG member's flag is ignored silently (§4)."""
    rows = admin.export_records(fields=["sex"], export_data_access_groups=True)
    assert list(rows[0])[:4] == ["record_id", "redcap_repeat_instrument",
                                 "redcap_repeat_instance", "redcap_data_access_group"]
    assert [r["redcap_data_access_group"] for r in rows] == ["paris", "lyon", "lyon", "paris"]
    labels = admin.export_records(fields=["sex"], export_data_access_groups=True,
                                  raw_or_label="label")
    assert labels[0]["redcap_data_access_group"] == "Paris"
    lyon = redcap.Project(shared_sandbox.url, shared_sandbox.tokens["lyon"])
    rows = lyon.export_records(fields=["sex"], export_data_access_groups=True)
    assert "redcap_data_access_group" not in rows[0]


def test_dag_token_sees_only_its_records(shared_sandbox):
    """§4: a DAG member's token sees only its DAG in export."""
    lyon = redcap.Project(shared_sandbox.url, shared_sandbox.tokens["lyon"])
    paris = redcap.Project(shared_sandbox.url, shared_sandbox.tokens["paris"])
    assert [r["record_id"] for r in lyon.export_records(fields=["record_id"])] == ["2", "3"]
    assert [r["record_id"] for r in paris.export_records(records=["1", "2", "10"],
                                                         fields=["sex"])] == ["1", "10"]


def test_false_flags_are_not_true(shared_sandbox):
    """§1: only `1`/`true` count as true; PyCap's `False` string must not switch on."""
    rows = _post(shared_sandbox, content="record", format="json", records="1",
                 exportDataAccessGroups="False", **{"fields[0]": "sex"}).json()
    assert "redcap_data_access_group" not in rows[0]
    rows = _post(shared_sandbox, content="record", format="json", records="1",
                 exportDataAccessGroups="TRUE", **{"fields[0]": "sex"}).json()
    assert rows[0]["redcap_data_access_group"] == "paris"


def test_complete_defaults_to_zero_or_blank_for_gray(shared_sandbox):
    """§2: `<form>_complete` defaults to "0"; "" with exportBlankForGrayFormStatus."""
    fields = {"fields[0]": "record_id", "fields[1]": "outcome_complete"}
    row = _post(shared_sandbox, content="record", format="json", records="10", **fields).json()
    assert row[0]["outcome_complete"] == "0"
    row = _post(shared_sandbox, content="record", format="json", records="10",
                exportBlankForGrayFormStatus="true", **fields).json()
    assert row[0]["outcome_complete"] == ""


def test_eav_export_leaves_blanks_out(shared_sandbox):
    """§2 EAV: `record, repeat cols, field_name, value`, blanks omitted."""
    rows = _post(shared_sandbox, content="record", format="json", type="eav", records="2",
                 **{"fields[0]": "record_id", "fields[1]": "cpk", "fields[2]": "icu_mv"}).json()
    assert {"record": "2", "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
            "field_name": "cpk", "value": "1200"} in rows
    assert {"record": "2", "redcap_repeat_instrument": "icu_stay", "redcap_repeat_instance": 1,
            "field_name": "icu_mv", "value": "1"} in rows
    assert all(r["value"] != "" for r in rows)


def test_xml_export_when_format_missing(shared_sandbox):
    """§1: a missing format means xml."""
    reply = _post(shared_sandbox, content="record", records="10", **{"fields[0]": "sex"})
    assert reply.headers["Content-Type"].startswith("text/xml")
    assert "<records>" in reply.text and "<sex><![CDATA[2]]></sex>" in reply.text


def test_csv_label_headers(shared_sandbox):
    """rawOrLabelHeaders=label: CSV headers are field labels, checkboxes `label (choice=...)`."""
    text = _post(shared_sandbox, content="record", format="csv", records="10",
                 rawOrLabelHeaders="label", **{"fields[0]": "record_id", "fields[1]": "skin"}
                 ).text
    assert text.splitlines()[0] == (
        '"Record ID","Repeat Instrument","Repeat Instance","Skin involvement (choice=Gottron '
        'papules)","Skin involvement (choice=Heliotrope rash)","Skin involvement (choice=Skin '
        'ulcers)","Skin involvement (choice=Mechanic\'s hands)","Skin involvement '
        '(choice=Periungual erythema)"')
