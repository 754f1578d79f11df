"""Every committed scenario project, served from its folder, through the real PyCap client.

One read-only server per scenario (module scope); the expectations come from the
folder's own files (`tests.scenarios.faithful`). Scenario-specific REDCap facts are
asserted in test_longitudinal.py, test_import_validation.py and the like.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redcap

from registry.sandbox.server import SandboxServer
from tests.scenarios import SCENARIO_DIR, SCENARIOS, scenario_path
from tests.scenarios.faithful import file_rows, json_rows, metadata_rows, project_json, read_csv

SMALL = [name for name in SCENARIOS
         if name != "wide" and (SCENARIO_DIR / name / "records.csv").exists()]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SandboxServer]]:
    running: dict[str, SandboxServer] = {}
    yield running
    for server in running.values():
        server.stop()


def _serve(servers: dict[str, SandboxServer], name: str) -> tuple[Path, SandboxServer]:
    folder = scenario_path(name)
    if name not in servers:
        servers[name] = SandboxServer.from_folder(folder).start()
    return folder, servers[name]


@pytest.fixture(params=SMALL)
def scenario(request: pytest.FixtureRequest, servers) -> tuple[Path, SandboxServer]:
    return _serve(servers, request.param)


def _admin(server: SandboxServer) -> redcap.Project:
    return redcap.Project(server.url, server.tokens.project)


def test_every_scenario_has_a_readme_saying_what_it_exercises():
    assert sorted(SMALL + ["wide"]) == sorted(SCENARIOS)
    for name in SCENARIOS:
        text = (SCENARIO_DIR / name / "README.md").read_text(encoding="utf-8")
        assert "What it exercises" in text and "REDCap facts it relies on" in text, name


def test_metadata_and_project_info(scenario):
    folder, server = scenario
    admin = _admin(server)
    assert admin.export_metadata() == metadata_rows(folder)
    info = admin.export_project_info()
    expected = project_json(folder)
    assert info["project_id"] == expected["project_id"]
    assert info["project_title"] == expected["project_title"]
    assert info["is_longitudinal"] == (1 if (folder / "events.csv").exists() else 0)
    assert info["has_repeating_instruments_or_events"] == (
        1 if (folder / "repeatingFormsEvents.csv").exists() else 0)


def test_records_come_back_row_for_row(scenario):
    """Every row and value of records.csv, in REDCap's export order, as JSON and as CSV."""
    folder, server = scenario
    admin = _admin(server)
    expected = file_rows(folder)
    dags = bool(read_csv(folder / "dags.csv")) if (folder / "dags.csv").exists() else False
    assert json_rows(admin, export_data_access_groups=dags) == expected
    text = admin.export_records(format_type="csv", export_data_access_groups=dags)
    head = text.split("\n", 1)[0].split(",")
    assert head == list(read_csv(folder / "records.csv")[0])


def test_design_contents(scenario):
    """events/arms/formEventMapping/repeatingFormsEvents as the folder holds them, or
    REDCap's refusal where the project has none."""
    folder, server = scenario
    admin = _admin(server)
    if (folder / "events.csv").exists():
        events = admin.export_events()
        assert [e["unique_event_name"] for e in events] == [
            e["unique_event_name"] for e in read_csv(folder / "events.csv")]
        assert all(isinstance(e["event_id"], int) for e in events)
        assert [(str(m["arm_num"]), m["unique_event_name"], m["form"])
                for m in admin.export_instrument_event_mappings()] == [
            (m["arm_num"], m["unique_event_name"], m["form"])
            for m in read_csv(folder / "formEventMapping.csv")]
        assert [str(a["arm_num"]) for a in admin.export_arms()] == [
            a["arm_num"] for a in read_csv(folder / "arms.csv")]
    else:
        for call, what in ((admin.export_events, "events"), (admin.export_arms, "arms"),
                           (admin.export_instrument_event_mappings, "form/event mappings")):
            with pytest.raises(redcap.RedcapError) as err:
                call()
            assert err.value.args[0] == {
                "error": f"You cannot export {what} for classic projects"}
    if (folder / "repeatingFormsEvents.csv").exists():
        assert admin.export_repeating_instruments_events() == read_csv(
            folder / "repeatingFormsEvents.csv")
    else:
        with pytest.raises(redcap.RedcapError, match="does not contain any repeating"):
            admin.export_repeating_instruments_events()


def test_dag_tokens_see_only_their_records(scenario):
    folder, server = scenario
    if not server.project.dags:
        assert server.tokens.by_dag == {}
        return
    seen: set[str] = set()
    for dag in server.project.dag_ids:
        project = redcap.Project(server.url, server.tokens[dag])
        got = json_rows(project)
        expected = [{k: v for k, v in r.items() if k != "redcap_data_access_group"}
                    for r in file_rows(folder) if r["redcap_data_access_group"] == dag]
        assert got == expected
        seen |= {r[server.project.schema.id_field] for r in got}
    everyone = {r[server.project.schema.id_field] for r in file_rows(folder)
                if r.get("redcap_data_access_group")}
    assert seen == everyone


def test_reimporting_the_export_changes_nothing(scenario, tmp_path):
    """REDCap checks only changed values: the export (gray form statuses blank, as that
    flag is meant for), messy values and all, imports back into a fresh copy without
    error, and no record is logged as edited."""
    folder, _ = scenario
    with SandboxServer.from_folder(folder) as fresh:
        admin = _admin(fresh)
        rows = admin.export_records(format_type="csv", export_blank_for_gray_form_status=True)
        reply = admin.import_records(rows, import_format="csv")
        assert reply == {"count": len(fresh.project.records)}
        assert admin.export_logging(log_type="record_edit") == []
        assert json_rows(admin) == json_rows(_admin(fresh))


def test_reimporting_a_plain_export_saves_the_gray_forms_as_incomplete():
    """Without exportBlankForGrayFormStatus a never-saved form exports `_complete` 0, and
    importing that back stores the 0 (REDCap compares with the stored value, blank)."""
    with SandboxServer.from_folder(scenario_path("classic")) as fresh:
        admin = _admin(fresh)
        assert admin.export_records(records=["5"], export_blank_for_gray_form_status=True)[
            0]["demographics_complete"] == ""
        admin.import_records(admin.export_records(format_type="csv"), import_format="csv")
        edits = admin.export_logging(log_type="record_edit")
        assert [(e["record"], e["details"]) for e in edits] == [
            ("5", "demographics_complete = '0', baseline_labs_complete = '0', "
                  "outcome_complete = '0'"),
            ("4", "baseline_labs_complete = '0'")]
        assert admin.export_records(records=["5"], export_blank_for_gray_form_status=True)[
            0]["demographics_complete"] == "0"


def test_the_starting_profile_is_a_valid_profile_for_every_scenario(scenario, tmp_path):
    """`--write-settings`' profile.toml loads (registry.profile) and passes the schema's
    checks against the project's own exports (registry.schema.build_schema)."""
    from registry.profile import load_profile
    from registry.sandbox.starter import write_sandbox_settings
    from registry.schema import build_schema

    folder, server = scenario
    write_sandbox_settings(server, tmp_path / "settings.toml")
    profile = load_profile(tmp_path / "profile.toml")
    admin = _admin(server)
    longitudinal = admin.is_longitudinal
    build_schema(admin.export_metadata(), project_info=admin.export_project_info(),
                 events=admin.export_events() if longitudinal else (),
                 arms=admin.export_arms() if longitudinal else (),
                 form_event_mapping=admin.export_instrument_event_mappings()
                 if longitudinal else (),
                 repeating=admin.export_repeating_instruments_events()
                 if server.project.design.has_repeating else (),
                 instruments=admin.export_instruments(), profile=profile)
    assert profile.patient is not None and profile.patient.form in server.project.schema.forms
