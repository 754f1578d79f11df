"""Imports are checked as REDCap 15.7.6 checks them (`Records::saveData`), for every field
type and validation: scenarios `validation`, `decimal_comma`, `checkboxes`, `dags`,
`text_ids` (facts in their READMEs). Each test imports into its own fresh server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redcap

from registry.sandbox.server import SandboxServer
from tests.scenarios import scenario_path

GENERIC = ("The value you provided could not be validated because it does not follow the "
           "expected format. Please try again.")
YMD = ("Invalid date format. (NOTE: Dates must be imported here only in Y-M-D format, "
       "regardless of the specific date format designated for this field.)")
YMD_HMS = ("Invalid date format. (NOTE: Dates must be imported here only in Y-M-D H:M[:S] "
           "format, regardless of the specific date format designated for this field.)")


_SERVERS: list[SandboxServer] = []


@pytest.fixture
def serve() -> Iterator:
    """`serve(name)` -> the project-wide PyCap project of a fresh server for that scenario
    (the server itself is `_SERVERS[-1]`)."""
    started: list[SandboxServer] = []

    def start(name: str) -> redcap.Project:
        server = SandboxServer.from_folder(scenario_path(name)).start()
        started.append(server)
        _SERVERS.append(server)
        return redcap.Project(server.url, server.tokens.project)

    yield start
    for server in started:
        server.stop()
        _SERVERS.remove(server)


def _refused(project: redcap.Project, rows: list[dict], **kwargs) -> list[str]:
    with pytest.raises(redcap.RedcapError) as err:
        project.import_records(rows, **kwargs)
    return err.value.args[0]["error"].split("\n")


def _field(project: redcap.Project, record: str, field: str) -> str:
    return project.export_records(records=[record], fields=[field])[0][field]


# (validation, a value REDCap refuses, its message); the record's own value is valid
BAD = [
    ("date_ymd", "2023-02-30", YMD), ("date_dmy", "31-12-2023", YMD),
    ("datetime_ymd", "2023-01-01 24:00", YMD_HMS),
    ("datetime_seconds_ymd", "2023-01-01 10:00:61", YMD_HMS),
    ("time", "25:00", "Time is not properly formatted as HH:MM (military format)."),
    ("time_mm_ss", "60:00", GENERIC), ("time_hh_mm_ss", "12:00", GENERIC),
    ("integer", "1.0", GENERIC),
    # PHP 8 compares "abc" with the max "100" as text ("a" > "1"): the range message wins
    ("integer", "abc", "v_integer should not be greater than the field maximum (100)"),
    ("number", "1.", GENERIC),
    ("number", "1,5", GENERIC), ("number_1dp", "22", GENERIC), ("number_1dp", "2.25", GENERIC),
    ("number_2dp", "2.5", GENERIC), ("number_3dp", "2.5", GENERIC),
    ("number_4dp", "2.12345", GENERIC), ("number_comma_decimal", "1.5", GENERIC),
    ("number_1dp_comma_decimal", "1.5", GENERIC), ("number_2dp_comma_decimal", "1,5", GENERIC),
    ("number_3dp_comma_decimal", "1,5", GENERIC), ("number_4dp_comma_decimal", "1,5", GENERIC),
    ("email", "someone@", "Email address is not properly formatted."),
    ("phone", "555-1234", "v_phone must be a 10-digit phone number."),
    ("zipcode", "3723", "v_zipcode must be a 5 or 9 digit U.S. ZIP Code"),
    ("alpha_only", "abc1", GENERIC), ("postalcode_germany", "00123", GENERIC),
    ("postalcode_canada", "D1A 0B1", GENERIC), ("mrn_10d", "123", GENERIC),
    ("ssn", "123456789", GENERIC),
]


def test_each_validation_refuses_what_redcap_refuses_with_its_message(serve):
    project = serve("validation")
    rows = [{"record_id": "9", f"v_{vtype}": value} for vtype, value, _ in BAD]
    lines = _refused(project, rows)
    assert lines == [f'"9","v_{vtype}","{value}","{message}"' for vtype, value, message in BAD]
    assert project.export_records(records=["9"]) == []  # nothing written


GOOD = [
    ("date_ymd", "2023-2-3", "2023-02-03"), ("date_dmy", "2023-12-31", "2023-12-31"),
    ("datetime_ymd", "2023-01-01T08:05", "2023-01-01 08:05"),
    ("datetime_ymd", "2023-01-01", "2023-01-01 00:00"),
    ("datetime_seconds_ymd", "2023-01-01 8:05", "2023-01-01 08:05:00"),
    ("time", "9:30", "09:30"), ("integer", "12", "12"), ("integer", "+7", "+7"),
    ("number", "-1.5e3", "-1.5e3"), ("number", ".5", ".5"), ("number_1dp", "-0.5", "-0.5"),
    ("number_comma_decimal", "1,5", "1,5"), ("number_2dp_comma_decimal", "0,25", "0,25"),
    ("phone", "615.322.2222", "(615) 322-2222"), ("zipcode", "37232", "37232"),
    ("email", "ana.lópez@exämple.org", "ana.lópez@exämple.org"),
    ("postalcode_uk", "SW1A 1AA", "SW1A 1AA"), ("vmrn", "1234", "000001234"),
]


@pytest.mark.parametrize(("vtype", "sent", "stored"), GOOD)
def test_accepted_values_are_stored_as_redcap_normalises_them(serve, vtype, sent, stored):
    project = serve("validation")
    assert project.import_records([{"record_id": "2", f"v_{vtype}": sent}]) == {"count": 1}
    assert _field(project, "2", f"v_{vtype}") == stored


def test_date_format_reads_slashed_dates_day_or_month_first(serve):
    project = serve("validation")
    project.import_records([{"record_id": "2", "v_date_dmy": "31/12/23",
                             "v_datetime_dmy": "1/2/2023 7:05"}], date_format="DMY")
    project.import_records([{"record_id": "2", "v_date_mdy": "12/31/2023"}], date_format="MDY")
    row = project.export_records(records=["2"])[0]
    assert (row["v_date_dmy"], row["v_datetime_dmy"], row["v_date_mdy"]) == (
        "2023-12-31", "2023-02-01 07:05", "2023-12-31")
    lines = _refused(project, [{"record_id": "2", "v_date_ymd": "31/02/2023"}],
                     date_format="DMY")
    assert lines == ['"2","v_date_ymd","2023-02-31","Invalid date format. (NOTE: Dates must be '
                     "imported here only in D/M/Y format or Y-M-D format, regardless of the "
                     'specific date format designated for this field.)"']


def test_min_max_refuse_only_with_force_minmax(serve):
    project = serve("validation")
    # soft ranges: REDCap warns, the API shows nothing and stores the value
    project.import_records([{"record_id": "2", "v_number_1dp": "10.5",
                             "v_date_ymd": "1999-01-01"}])
    assert _field(project, "2", "v_number_1dp") == "10.5"
    lines = _refused(project, [{"record_id": "2", "v_integer": "101"},
                               {"record_id": "1", "v_integer": "-1"}])
    assert lines == [
        '"2","v_integer","101","v_integer should not be greater than the field maximum (100)"',
        '"1","v_integer","-1","v_integer should not be less than the field minimum (0)"']


def test_choices_checkboxes_sliders_and_yes_no(serve):
    project = serve("validation")
    lines = _refused(project, [{"record_id": "2", "t_dropdown": "3", "t_radio": "x",
                                "t_checkbox___1": "2", "t_yesno": "yes", "t_truefalse": "2",
                                "t_slider": "11", "field_types_complete": "3"}])
    assert lines == [
        '"2","t_dropdown","3","The value is not a valid category for t_dropdown"',
        '"2","t_radio","x","The value is not a valid category for t_radio"',
        "\"2\",\"t_checkbox___1\",\"2\",\"t_checkbox___1 is a checkbox field and thus can only "
        "have a value of '1' (checked) or '0' (unchecked).\"",
        '"2","t_yesno","yes","The value is not a valid category for t_yesno"',
        '"2","t_truefalse","2","The value is not a valid category for t_truefalse"',
        '"2","t_slider","11","t_slider should not be greater than the field maximum (10)"',
        '"2","field_types_complete","3","The value is not a valid category for '
        'field_types_complete"']
    assert _refused(project, [{"record_id": "2", "t_slider": "5.5"}]) == [
        '"2","t_slider","5.5","t_slider must be an integer"']


def test_calc_pseudo_calc_and_file_values_are_ignored(serve):
    project = serve("validation")
    assert project.import_records([{"record_id": "2", "t_calc": "999", "t_calctext": "no",
                                    "t_file": "other.pdf", "t_text": "kept"}]) == {"count": 1}
    row = project.export_records(records=["2"])[0]
    assert (row["t_calc"], row["t_calctext"], row["t_file"], row["t_text"]) == (
        "", "", "", "kept")
    assert _field(project, "1", "t_calc") == "14"


def test_unchanged_stored_bad_values_pass_changed_ones_are_checked(serve):
    """Record 3 holds values entered before the validations: sent back unchanged they
    pass; a change is checked."""
    project = serve("validation")
    assert project.import_records([{"record_id": "3", "v_integer": "about 20",
                                    "v_email": "n/a", "v_time": "25:00"}]) == {"count": 1}
    assert project.export_logging(log_type="record_edit") == []
    assert _refused(project, [{"record_id": "3", "v_email": "n/b"}]) == [
        '"3","v_email","n/b","Email address is not properly formatted."']


def test_descriptive_fields_and_checkbox_base_names_are_not_data_fields(serve):
    project = serve("validation")
    assert _refused(project, [{"record_id": "2", "t_descriptive": "x", "t_checkbox": "1"}]) == [
        "The following fields were not found in the project as real data fields: "
        "t_descriptive, t_checkbox"]


def test_comma_decimal_ranges_compare_as_numbers(serve):
    project = serve("decimal_comma")
    project.import_records([{"record_id": "1", "temp": "39,5", "height": "2,5"}])
    assert _field(project, "1", "temp") == "39,5"
    assert _refused(project, [{"record_id": "1", "temp": "43,5"}]) == [
        '"1","temp","43,5","temp should not be greater than the field maximum (43,0)"']
    assert _refused(project, [{"record_id": "2", "weight": "92.3"}]) == [
        f'"2","weight","92.3","{GENERIC}"']
    line = project.export_records(records=["2"], format_type="csv").split("\n")[1]
    assert line.startswith('2,Rich,"1,84","92,3",27.3,"37,9"')


def test_checkbox_codes_that_are_not_numbers(serve):
    project = serve("checkboxes")
    names = [r["export_field_name"] for r in project.export_field_names(field="sym_codes")]
    assert names == ["sym_codes___a", "sym_codes___b_2", "sym_codes___1_5", "sym_codes____1",
                     "sym_codes___99"]
    assert [r["choice_value"] for r in project.export_field_names(field="sym_codes")] == [
        "A", "b-2", "1.5", "-1", "99"]
    project.import_records([{"record_id": "3", "sym_codes____1": "1"}])
    row = project.export_records(records=["3"], fields=["sym_codes"], raw_or_label="label",
                                 export_checkbox_labels=True)[0]
    assert row["sym_codes____1"] == "Minus one" and row["sym_codes___a"] == ""


def test_record_names_redcap_refuses(serve):
    project = serve("text_ids")
    assert _refused(project, [{"subject_code": "a+b", "initials": "AB"}]) == [
        "The record name (a+b) cannot contain a plus sign (+), ampersand (&), pound sign (#), "
        "or apostrophe."]
    assert _refused(project, [{"subject_code": "", "initials": "AB"}]) == [
        "The record id field (subject_code) is missing."]
    assert _refused(project, [{"subject_code": "x" * 101}])[0].startswith(
        "Record names must be 100 characters or less in length.")
    assert project.export_records(records=["B 12"])[0]["initials"] == "B"


def test_text_ids_come_back_in_natural_case_insensitive_order(serve):
    project = serve("text_ids")
    assert [r["subject_code"] for r in project.export_records(fields=["subject_code"])] == [
        "ABC-001", "abc-002", "abc-010", "B 12", "x_1", "Z9", "z10", "Émile-3"]


def test_dag_members_import_rules(serve):
    """REDCAP_API.md §4 and `Records::saveData`'s DAG checks."""
    admin = serve("dags")
    server = next(iter(_SERVERS[-1:]))
    nord = redcap.Project(server.url, server.tokens["hpital_nord_lille"])
    assert _refused(nord, [{"record_id": "702-1", "age": "40"}]) == [
        "The following records cannot be modified because they do not belong to your Data "
        "Access Group: 702-1"]
    assert _refused(nord, [{"record_id": "1", "age": "40"}]) == [
        '"1","record_id","1","This record cannot be imported because it already exists in '
        'the project and belongs to another Data Access Group."']
    assert _refused(nord, [{"record_id": "701-1", "redcap_data_access_group": ""}])[0].startswith(
        "ERROR: Illegal use of 'redcap_data_access_group' field! You are currently in a Data "
        "Access Group")
    assert nord.generate_next_record_name() == "701-4"
    nord.import_records([{"record_id": "701-4", "age": "30"}])
    assert {r["record_id"]: r["redcap_data_access_group"] for r in admin.export_records(
        records=["701-4", "1"], fields=["record_id"], export_data_access_groups=True)} == {
        "1": "", "701-4": "hpital_nord_lille"}
    assert _refused(admin, [{"record_id": "9", "redcap_data_access_group": "nowhere"}]) == [
        "The following Data Access Group are invalid for the redcap_data_access_group field: "
        "nowhere"]
    admin.import_records([{"record_id": "2", "redcap_data_access_group": "universittskliniku"}])
    koln = redcap.Project(server.url, server.tokens["universittskliniku"])
    assert [r["record_id"] for r in koln.export_records(fields=["record_id"])] == [
        "2", "702-1", "702-2"]


def test_repeating_form_fields_must_come_on_their_own_rows(serve):
    """`Records::saveData`: a repeating form's field on a base row, or another form's
    field on a repeat row, is refused per field."""
    project = serve("repeating")
    assert _refused(project, [{"record_id": "3", "med_name": "Aspirin"}]) == [
        "\"3\",\"med_name\",\"Aspirin\",\"This field ('med_name') exists on a Repeating "
        "Instrument named 'medications'. However, the fields 'redcap_repeat_instance' and/or "
        "'redcap_repeat_instrument' for this row of data have no value, which are both "
        "required for importing data into a Repeating Instrument.  You are not allowed to "
        "import data for this field into a non-repeating instrument.\""]
    assert _refused(project, [{"record_id": "3", "redcap_repeat_instrument": "medications",
                               "redcap_repeat_instance": "1", "hosp_icu": "1"}]) == [
        "\"3\",\"hosp_icu\",\"1\",\"This field ('hosp_icu') does not exist on the Repeating "
        "Instrument named 'medications'. You are not allowed to import data for this field "
        "into this Repeating Instrument.\""]
    project.import_records([{"record_id": "3", "redcap_repeat_instrument": "medications",
                             "redcap_repeat_instance": "new", "med_name": "Aspirin",
                             "med_start": "2023-01-01"}])
    rows = project.export_records(records=["3"], forms=["medications"])
    assert [(r["redcap_repeat_instance"], r["med_name"]) for r in rows] == [
        ("", ""), (1, "Aspirin")]
    label = project.export_records(records=["3"], forms=["medications"],
                                   raw_or_label="label")[1]
    assert label["redcap_repeat_instrument"] == "Medications"  # instruments.csv's label


def test_records_named_with_spaces_are_exported_and_deleted_by_name(serve):
    project = serve("text_ids")
    assert project.delete_records(["B 12", "Émile-3"]) == 2
    assert [r["subject_code"] for r in project.export_records(fields=["subject_code"])] == [
        "ABC-001", "abc-002", "abc-010", "x_1", "Z9", "z10"]
