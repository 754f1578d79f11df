"""The generated wide scenario (5,000+ fields over 34 forms), served through PyCap.

Full width, few records, so `make test` stays quick; the 1,000-record build is in the
slow test and in the quality benchmarks (`scenario_path("wide")`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import redcap

from registry.sandbox.server import SandboxServer
from tests.scenarios import scenario_path
from tests.scenarios.faithful import file_rows, json_rows, metadata_rows
from tests.scenarios.wide.generate import WideSpec, build, wide_folder


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wide_folder(records=12, cache=tmp_path_factory.mktemp("wide"))


@pytest.fixture(scope="module")
def server(wide: Path):
    with SandboxServer.from_folder(wide) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: SandboxServer) -> redcap.Project:
    return redcap.Project(server.url, server.tokens.project)


def test_dictionary_is_wide_and_varied(admin):
    """5,000+ data fields over 30+ forms, every common field type, two repeating forms."""
    meta = admin.export_metadata()
    kinds = Counter(m["field_type"] for m in meta)
    data_fields = [m for m in meta if m["field_type"] != "descriptive"]
    assert len(data_fields) >= 5000
    assert len({m["form_name"] for m in meta}) >= 30
    assert {"text", "radio", "dropdown", "yesno", "truefalse", "checkbox", "notes", "calc",
            "slider", "file", "descriptive"} <= set(kinds)
    validations = {m["text_validation_type_or_show_slider_number"] for m in meta}
    assert {"date_ymd", "date_dmy", "datetime_ymd", "time", "integer", "number",
            "number_1dp", "email", "phone", "zipcode"} <= validations
    assert sum(1 for m in meta if m["branching_logic"]) > 500
    assert [r["form_name"] for r in admin.export_repeating_instruments_events()] == [
        "visit_log", "adverse_events"]


def test_metadata_and_records_round_trip(wide, admin):
    """The dictionary as exported equals the folder's; every row and value of records.csv
    comes back in export order, messy values included."""
    assert admin.export_metadata() == metadata_rows(wide)
    expected = file_rows(wide)
    got = json_rows(admin, export_data_access_groups=True)
    assert len(got) == len(expected)
    assert got == expected


def test_dag_tokens_see_their_records(server, wide):
    for dag in server.project.dag_ids:
        project = redcap.Project(server.url, server.tokens[dag])
        ids = {r["record_id"] for r in project.export_records(fields=["record_id"])}
        expected = {r["record_id"] for r in file_rows(wide)
                    if r["redcap_data_access_group"] == dag}
        assert ids == expected


def test_generator_is_deterministic(tmp_path):
    """Same spec, same bytes: the scenario can be rebuilt anywhere instead of committed."""
    one = build(tmp_path / "a", WideSpec(records=5))
    two = build(tmp_path / "b", WideSpec(records=5))
    for name in ("dictionary.csv", "records.csv", "dags.csv", "project.json"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    other = build(tmp_path / "c", WideSpec(records=5, seed=1))
    assert (other / "records.csv").read_bytes() != (one / "records.csv").read_bytes()


@pytest.mark.slow
def test_full_size_build_serves_1000_records():
    folder = scenario_path("wide")
    with SandboxServer.from_folder(folder) as server:
        project = redcap.Project(server.url, server.tokens.project)
        ids = {r["record_id"] for r in project.export_records(fields=["record_id"])}
    assert len(ids) == 1000
