"""Every non-record API method, and REDCap's error replies (REDCAP_API.md §1-§4)."""

from __future__ import annotations

import pytest
import redcap
import requests
import semantic_version

from registry.sandbox.dictionary import METADATA_COLUMNS, metadata
from registry.sandbox.server import SandboxServer

NO_API = "You do not have permissions to use the API"


@pytest.fixture(scope="module")
def admin(shared_sandbox: SandboxServer) -> redcap.Project:
    return redcap.Project(shared_sandbox.url, shared_sandbox.tokens.project)


@pytest.fixture(scope="module")
def lyon(shared_sandbox: SandboxServer) -> redcap.Project:
    return redcap.Project(shared_sandbox.url, shared_sandbox.tokens["lyon"])


def _post(server: SandboxServer, token: str | None = None, **params: str) -> requests.Response:
    data = {"token": server.tokens.project if token is None else token, **params}
    return requests.post(server.url, data=data, timeout=5)


def test_tokens_are_32_hex_characters_and_differ_per_server(sandbox_factory):
    """§1: PyCap requires 32-character tokens; each server makes its own."""
    one, two = sandbox_factory(), sandbox_factory()
    tokens = [one.tokens.project, *one.tokens.by_dag.values()]
    assert all(len(t) == 32 and int(t, 16) >= 0 for t in tokens)
    assert len(set(tokens)) == 3
    assert one.tokens.project != two.tokens.project
    assert one.url.endswith("/api/")


def test_metadata_is_the_dictionary_with_optional_filters(admin):
    """§2: metadata rows of the 18 columns; `fields[i]`/`forms[i]` narrow it."""
    assert admin.export_metadata() == metadata()
    assert list(admin.metadata[0]) == list(METADATA_COLUMNS)
    only = admin.export_metadata(fields=["sex"], forms=["outcome"])
    assert [r["field_name"] for r in only][:2] == ["sex", "last_fu_date"]
    assert admin.export_metadata(format_type="df").index.name == "field_name"


def test_export_field_names_one_row_per_checkbox_choice_and_complete(admin):
    """§2 exportFieldNames: one row per checkbox choice, `_complete` included."""
    rows = admin.export_field_names()
    assert {"original_field_name": "skin", "choice_value": "3",
            "export_field_name": "skin___3"} in rows
    assert {"original_field_name": "outcome_complete", "choice_value": "",
            "export_field_name": "outcome_complete"} in rows
    assert admin.export_field_names(field="sex") == [
        {"original_field_name": "sex", "choice_value": "", "export_field_name": "sex"}]
    with pytest.raises(redcap.RedcapError, match="Invalid field"):
        admin.export_field_names(field="nope")


def test_project_info_is_an_object_with_integer_flags(admin):
    """§2: project info is a JSON object; integer-like values are ints."""
    info = admin.export_project_info()
    assert isinstance(info, dict)
    assert info["is_longitudinal"] == 0 and info["has_repeating_instruments_or_events"] == 1
    assert isinstance(info["project_id"], int)


def test_version_is_bare_text(admin, shared_sandbox):
    """§2: version is bare text that PyCap reads as a semantic version."""
    assert admin.export_version() == semantic_version.Version("15.7.6")
    assert _post(shared_sandbox, content="version").text == "15.7.6"


def test_repeating_forms(admin):
    assert admin.export_repeating_instruments_events() == [
        {"form_name": f, "custom_form_label": ""} for f in ("treatments", "icu_stay",
                                                            "infections")]


def test_form_event_mapping_is_refused_for_a_classic_project(admin, shared_sandbox):
    """§3: 400 `You cannot export form/event mappings for classic projects`; PyCap's
    `is_longitudinal` treats that error as "classic" (§1)."""
    reply = _post(shared_sandbox, content="formEventMapping", format="json")
    assert reply.status_code == 400
    assert reply.json() == {"error": "You cannot export form/event mappings for classic "
                                     "projects"}
    assert admin.is_longitudinal is False


def test_dag_export_project_token_and_dag_token(admin, lyon):
    """§4: a DAG member cannot export DAGs (403, REDCap's message)."""
    assert admin.export_dags() == [
        {"data_access_group_name": "Paris", "unique_group_name": "paris",
         "data_access_group_id": 101},
        {"data_access_group_name": "Lyon", "unique_group_name": "lyon",
         "data_access_group_id": 102}]
    with pytest.raises(redcap.RedcapError) as err:
        lyon.export_dags()
    assert err.value.args[0] == {"error": "You do not have permission to export/import/delete "
                                          "Data Access Groups because you have been assigned "
                                          "to a Data Access Group."}


def test_user_dag_mapping_and_instruments(admin):
    assert {"username": "sandbox_lyon", "redcap_data_access_group": "lyon"} in \
        admin.export_user_dag_assignment()
    assert [(i["instrument_name"], i["instrument_label"]) for i in admin.export_instruments()
            ] == [("baseline", "Baseline"), ("treatments", "Treatments"),
                  ("icu_stay", "ICU stay"), ("infections", "Infections"), ("outcome", "Outcome")]


def test_next_record_name_project_and_dag(admin, lyon):
    """§4: max integer + 1 for the project; `<group id>-<n+1>` in a DAG."""
    assert admin.generate_next_record_name() == "11"
    assert lyon.generate_next_record_name() == "102-1"


@pytest.mark.parametrize(("fmt", "body"), [
    ("json", '{"error":"You do not have permissions to use the API"}'),
    ("csv", "ERROR: You do not have permissions to use the API"),
    ("xml", '<?xml version="1.0" encoding="UTF-8" ?>\n<hash>\n\t<error>You do not have '
            'permissions to use the API</error>\n</hash>'),
])
def test_bad_token_is_403_with_body_per_return_format(shared_sandbox, fmt, body):
    """§1/§3: unknown token -> 403 `You do not have permissions to use the API`, body
    shaped by returnFormat."""
    reply = _post(shared_sandbox, token="0" * 32, content="record", format=fmt)
    assert (reply.status_code, reply.text) == (403, body)


def test_bad_token_raises_in_pycap(shared_sandbox):
    project = redcap.Project(shared_sandbox.url, "A" * 32)
    with pytest.raises(redcap.RedcapError) as err:
        project.export_records()
    assert err.value.args[0] == {"error": NO_API}


def test_non_alphanumeric_or_missing_token_is_403(shared_sandbox):
    assert _post(shared_sandbox, token="x'; --", content="version").status_code == 403
    assert requests.post(shared_sandbox.url, data={"content": "version"}, timeout=5
                         ).status_code == 403


def test_return_format_defaults_to_format_and_missing_means_xml(shared_sandbox):
    """§1: returnFormat defaults to format; a missing or unknown format is xml."""
    reply = _post(shared_sandbox, content="nope", format="csv")
    assert (reply.status_code, reply.text) == (
        400, 'ERROR: The value of the parameter "content" is not valid')
    assert "<error>" in _post(shared_sandbox, content="nope", format="odd").text
    assert _post(shared_sandbox, content="nope", format="csv", returnFormat="json").json() == {
        "error": 'The value of the parameter "content" is not valid'}


def test_foreign_report_is_403(admin):
    """§3: a report_id of another project -> 403 with REDCap's message."""
    with pytest.raises(redcap.RedcapError) as err:
        admin.export_report(report_id="42")
    assert err.value.args[0] == {"error": "The API request cannot complete because "
                                          "report_id=42 does not belong to this project."}


def test_non_post_is_501(shared_sandbox):
    """§1: anything but POST on the API URL -> 501."""
    assert requests.get(shared_sandbox.url, timeout=5).status_code == 501
    assert requests.put(shared_sandbox.url, timeout=5).status_code == 501


def test_users_roles_and_their_dags_need_user_rights(admin, lyon):
    """content=user, userRole, userRoleMapping (PyCap's export_users & co.), as REDCap."""
    roles = {r["unique_role_name"]: r["role_label"] for r in admin.export_user_roles()}
    assert set(roles.values()) == {"Data manager", "Site coordinator", "Data entry"}
    held = {m["username"]: roles[m["unique_role_name"]]
            for m in admin.export_user_role_assignment()}
    users = {u["username"]: u for u in admin.export_users()}
    dags = {m["username"]: m["redcap_data_access_group"]
            for m in admin.export_user_dag_assignment()}
    assert set(users) == set(held) == set(dags)
    assert held["sandbox_lyon"] == "Site coordinator" and dags["sandbox_lyon"] == "lyon"
    assert users["sandbox_lyon"]["email"] == "coordinator.lyon@sandbox.example.org"
    assert users["sandbox_lyon"]["data_access_group"] == "lyon"
    assert users["former_lyon"]["expiration"] == "2024-12-31"
    for export in (lyon.export_users, lyon.export_user_roles,
                   lyon.export_user_role_assignment):
        with pytest.raises(redcap.RedcapError):
            export()
