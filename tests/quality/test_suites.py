"""Suites are data: every file loads, round-trips through JSON, and bad ones fail loudly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry.errors import SuiteDefinitionError
from registry.quality.derived import load_derived_config
from registry.quality.suites import (
    KNOWN_TYPES,
    dump_suite,
    load_suite,
    load_suites,
    parse_suite,
)
from tests import anti_mda5

SUITES = anti_mda5.SUITES

GOOD_RULE = {
    "type": "expect_column_values_to_not_be_null",
    "kwargs": {"column": "trt_start"},
    "meta": {"id": "x.start_present", "frame": "treatments", "field": "trt_start",
             "severity": "blocking", "dimension": "completeness",
             "message": "Start date is empty ({trt_name})"},
}


def _write(tmp_path: Path, name: str, expectations: list[dict]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"name": path.stem, "expectations": expectations}))
    return path


def test_every_shipped_suite_is_readable_by_great_expectations() -> None:
    """Suites keep GX's vocabulary: GX itself builds every rule they hold."""
    assert load_suites(SUITES, gx=True) == load_suites(SUITES)


def test_every_suite_loads_and_round_trips(tmp_path: Path) -> None:
    suites = load_suites(SUITES)
    assert {s.name for s in suites} >= {"dates", "icu", "infections"}
    for suite in suites:
        again = parse_suite(json.loads(dump_suite(suite)), suite.source)
        assert again == suite
        path = tmp_path / f"{suite.name}.json"
        dump_suite(suite, path)
        assert load_suite(path).rules == suite.rules
        assert len(suite.rules) == len(json.loads(Path(suite.source).read_text())["expectations"])


def test_unknown_type_names_file_rule_and_known_types(tmp_path: Path) -> None:
    rule = {**GOOD_RULE, "type": "expect_column_values_to_be_pretty"}
    path = _write(tmp_path, "bad.json", [GOOD_RULE | {"meta": {**GOOD_RULE["meta"],
                                                                "id": "ok"}}, rule])
    with pytest.raises(SuiteDefinitionError) as err:
        load_suite(path)
    text = str(err.value)
    assert str(path) in text and "x.start_present" in text
    assert "expect_column_values_to_be_pretty" in text
    assert all(t in text for t in KNOWN_TYPES)


@pytest.mark.parametrize(("change", "needle"), [
    ({"kwargs": {"colum": "trt_start"}}, "rejects the kwargs"),
    ({"meta": {**GOOD_RULE["meta"], "severity": "fatal"}}, "severity"),
    ({"meta": {**GOOD_RULE["meta"], "frame": "lab tests"}}, "not a frame name"),
    ({"meta": {k: v for k, v in GOOD_RULE["meta"].items() if k != "message"}}, "missing"),
    ({"meta": {**GOOD_RULE["meta"], "message": "{trt_start.year}"}}, "plain column name"),
    ({"meta": {**GOOD_RULE["meta"], "message": "unclosed {trt_start"}}, "malformed"),
    ({"meta": {**GOOD_RULE["meta"], "colour": "red"}}, "unknown meta keys"),
    ({"mostly": 0.9}, "unknown keys"),
])
def test_malformed_rules_are_errors(tmp_path: Path, change: dict, needle: str) -> None:
    path = _write(tmp_path, "bad.json", [GOOD_RULE | change])
    with pytest.raises(SuiteDefinitionError, match=needle) as err:
        load_suite(path)
    assert str(path) in str(err.value)


def test_malformed_json_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"name": "a", "expectations": [')
    with pytest.raises(SuiteDefinitionError, match=r"a\.json: not valid JSON"):
        load_suites(tmp_path)
    _write(tmp_path, "a.json", [GOOD_RULE])
    _write(tmp_path, "b.json", [GOOD_RULE])
    with pytest.raises(SuiteDefinitionError, match="also used in"):
        load_suites(tmp_path)
    with pytest.raises(SuiteDefinitionError, match="not found"):
        load_suites(tmp_path / "nowhere")


def test_a_suite_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b'{"name": "caf\xe9", "expectations": []}')
    with pytest.raises(SuiteDefinitionError, match=r"a\.json: not UTF-8 text"):
        load_suites(tmp_path)


def test_dictionary_overrides_are_checked(tmp_path: Path) -> None:
    config = load_derived_config(SUITES / "_dictionary.json")
    assert config["fields"]["diagnosis_date"]["required"] == "blocking"
    bad = tmp_path / "_dictionary.json"
    bad.write_text(json.dumps({"fields": {"cpk": {"range": "loud"}}}))
    with pytest.raises(SuiteDefinitionError, match="cpk"):
        load_derived_config(bad)


def test_a_suite_naming_a_frame_the_project_lacks_is_refused(tmp_path: Path) -> None:
    """Checked against the project's schema when the quality stage loads the suites."""
    from registry.quality import validate
    from tests.quality.conftest import make_frames

    path = _write(tmp_path, "labs.json", [GOOD_RULE | {"meta": {**GOOD_RULE["meta"],
                                                                 "frame": "labs"}}])
    frames = make_frames([])
    with pytest.raises(SuiteDefinitionError) as err:
        validate(frames, frames.schema, tmp_path, site_links=None)
    text = str(err.value)
    assert "\n" not in text and str(path) in text and "x.start_present" in text
    assert "meta.frame 'labs'" in text and "icu_stays" in text
