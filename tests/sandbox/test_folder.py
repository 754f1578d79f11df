"""Reading project folders: both dictionary formats, and one clear line per bad file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redcap

from registry.sandbox.folder import (
    DICTIONARY_HEADERS,
    METADATA_COLUMNS,
    FolderError,
    read_folder,
    write_folder,
)
from registry.sandbox.server import SandboxServer
from tests.scenarios import scenario_path

CLASSIC = scenario_path("classic")


def test_dictionary_page_headers_map_to_the_api_names():
    """The Dictionary download's 18 headers are the metadata export's 18 columns, in order
    (REDCap's own pairing, e.g. "Choices, Calculations, OR Slider Labels" ->
    select_choices_or_calculations)."""
    pairs = dict(zip(DICTIONARY_HEADERS, METADATA_COLUMNS, strict=True))
    assert pairs["Variable / Field Name"] == "field_name"
    assert pairs["Choices, Calculations, OR Slider Labels"] == "select_choices_or_calculations"
    assert pairs["Text Validation Type OR Show Slider Number"] == (
        "text_validation_type_or_show_slider_number")
    assert pairs["Branching Logic (Show field only if...)"] == "branching_logic"
    assert pairs["Field Annotation"] == "field_annotation"


def test_both_dictionary_formats_serve_the_same_metadata(tmp_path):
    human = read_folder(CLASSIC)
    api = write_folder(tmp_path / "api", metadata=human.metadata, records=human.records,
                       project_info=human.project_info)
    assert read_folder(api).metadata == human.metadata
    assert (api / "dictionary.csv").read_text().startswith("field_name,form_name,")
    assert (CLASSIC / "dictionary.csv").read_text().startswith('"Variable / Field Name"')


def test_legacy_validation_names_are_exported_as_the_api_names(tmp_path):
    """Metadata export names int/float/date as integer/number/date_ymd (REDCAP_API.md §2)."""
    folder = tmp_path / "legacy"
    folder.mkdir()
    (folder / "dictionary.csv").write_text(
        "field_name,form_name,field_type,field_label,text_validation_type_or_show_slider_number\n"
        "record_id,f,text,ID,\nn,f,text,N,int\nx,f,text,X,float\nd,f,text,D,date\n"
        "t,f,text,T,datetime\n", encoding="utf-8")
    (folder / "records.csv").write_text("record_id,n,x,d,t,f_complete\n1,3,2.5,2020-01-02,,2\n")
    with SandboxServer.from_folder(folder) as server:
        meta = redcap.Project(server.url, server.tokens.project).export_metadata()
    assert [m["text_validation_type_or_show_slider_number"] for m in meta] == [
        "", "integer", "number", "date_ymd", "datetime_ymd"]
    assert list(meta[0]) == list(METADATA_COLUMNS)


def test_a_folders_users_are_the_projects_users():
    """users.csv stands in for the invented users: each with its e-mail, DAG, role and
    expiration, as content=user, userRoleMapping and userDagMapping give them."""
    with SandboxServer.from_folder(scenario_path("dags")) as server:
        admin = redcap.Project(server.url, server.tokens.project)
        users = {u["username"]: u for u in admin.export_users()}
        roles = {r["unique_role_name"]: r["role_label"] for r in admin.export_user_roles()}
        held = {m["username"]: roles[m["unique_role_name"]]
                for m in admin.export_user_role_assignment()}
        dags = {m["username"]: m["redcap_data_access_group"]
                for m in admin.export_user_dag_assignment()}
    assert set(users) == set(held) == set(dags) == {
        "sandbox_admin", "sandbox_hpital_nord_lille", "sandbox_universittskliniku",
        "sandbox_ospedale_san_raffa", "mdurand", "jweber", "arossi", "lmartin"}
    assert users["mdurand"]["email"] == "marie.durand@chu-lille.example.fr"
    assert users["mdurand"]["data_access_group"] == "hpital_nord_lille"
    assert users["mdurand"]["data_access_group_id"] == "701"
    assert users["arossi"]["expiration"] == "2025-03-31" and users["lmartin"]["firstname"] == "Léa"
    assert held["jweber"] == "Data entry" and held["lmartin"] == "Data manager"
    assert dags["lmartin"] == "" and dags["arossi"] == "ospedale_san_raffa"


def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(CLASSIC, tmp_path / "classic"))


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: (p / "records.csv").unlink(),
     "records.csv: missing (a project folder needs dictionary.csv and records.csv)"),
    (lambda p: (p / "dictionary.csv").write_text("name,form\nrecord_id,f\n"),
     "dictionary.csv: first column is 'name'; expected 'Variable / Field Name' (Dictionary "
     "page download) or 'field_name' (API metadata)"),
    (lambda p: (p / "records.csv").write_text("id,dob\n1,2020-01-01\n"),
     "records.csv: first column is 'id'; the dictionary's record id field is 'record_id'"),
    (lambda p: (p / "project.json").write_text("{nope"),
     "project.json: not JSON (Expecting property name enclosed in double quotes, line 1)"),
    (lambda p: (p / "records.csv").write_text(
        "record_id,redcap_data_access_group\n1,paris\n"),
     "records.csv: data access group 'paris' is not in dags.csv"),
    (lambda p: (p / "records.csv").write_text(
        "record_id,redcap_event_name\n1,baseline_arm_1\n"),
     "records.csv: has redcap_event_name but the folder has no events.csv"),
    (lambda p: (p / "records.csv").write_bytes(b"record_id\n\xff\n"),
     "records.csv: not UTF-8 text (invalid start byte at byte 10)"),
    (lambda p: (p / "users.csv").write_text(
        "username,email,data_access_group\nann,a@x.org,paris\n"),
     "users.csv: row 2: data_access_group 'paris' is not in dags.csv"),
    (lambda p: (p / "users.csv").write_text("username,email,role\nann,a@x.org,Boss\n"),
     "users.csv: row 2: role 'Boss' is not one of Data entry, Data manager, Site coordinator"),
    (lambda p: (p / "users.csv").write_text("username,email\nann,a@x.org\nann,b@x.org\n"),
     "users.csv: row 3: username 'ann' is there twice (the sandbox's API users "
     "sandbox_admin and sandbox_<dag> are its own)"),
    (lambda p: (p / "users.csv").write_text("username,expiration\nann,31/12/2025\n"),
     "users.csv: no email column"),
])
def test_a_bad_folder_is_one_line_naming_the_file(tmp_path, change, message):
    folder = _copy(tmp_path)
    change(folder)
    with pytest.raises(FolderError) as err:
        read_folder(folder)
    assert str(err.value) == f"{folder}/{message}"


def test_columns_the_dictionary_lacks_are_set_aside(tmp_path):
    folder = _copy(tmp_path)
    text = (folder / "records.csv").read_text().splitlines()
    text = [text[0] + ",old_field,redcap_survey_identifier"] + [t + ",x," for t in text[1:]]
    (folder / "records.csv").write_text("\n".join(text) + "\n")
    read = read_folder(folder)
    assert read.ignored_columns == ["old_field", "redcap_survey_identifier"]
    with SandboxServer.from_folder(folder) as server:
        row = redcap.Project(server.url, server.tokens.project).export_records(records=["1"])[0]
    assert "old_field" not in row and row["dob"] == "1958-07-21"


def test_fault_knobs_work_on_a_folder_project():
    """The admin door drives a folder project's server as it does the synthetic one."""
    import requests

    with SandboxServer.from_folder(CLASSIC) as server:
        admin = redcap.Project(server.url, server.tokens.project)
        reply = requests.post(server.admin_url + "faults", json={
            "kind": "status", "status": 503, "content": "record"}, timeout=5)
        assert reply.status_code == 200
        assert requests.post(server.url, data={"token": server.tokens.project,
                                               "content": "record", "format": "json"},
                             timeout=5).status_code == 503
        assert len(admin.export_records(fields=["record_id"])) == 8  # spent after one
        server.faults.add("drop_rows", content="record", fraction=0.5, seed=1)
        assert len(admin.export_records(fields=["record_id"])) == 4
