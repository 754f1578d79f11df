"""validate() on a hand-made registry: each kind of error gives exactly its flag."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from registry.quality import SiteLink, blocking_patients, parse_suite, validate
from registry.quality.suites import load_suites
from tests import anti_mda5
from tests.quality.conftest import TODAY, make_frames, patient

SUITES = anti_mda5.SUITES
LINK = SiteLink("https://redcap.example.org/api/", "14.5.1", 31)


def _rows() -> list[dict[str, object]]:
    return [
        *patient("paris", "1", icu=2),
        *patient("paris", "2", treatments__trt_stop="2020-01-15"),
        *patient("paris", "3", icu=1, icu_stay__icu_discharge_date="2020-01-25",
                 icu_stay__icu_mv="0", icu_stay__icu_mv_date=""),
        *patient("paris", "4", icu=1, baseline__icu_ever="0"),
        *patient("lyon", "1", infections__inf_site="8"),
        *patient("lyon", "2", baseline__muscle_weakness="0", baseline__cpk="300",
                 treatments__trt_stop=""),
        *patient("lyon", "3", treatments__trt_start="2020-02-30"),
        *patient("lyon", "4", baseline__mda5_titre="900", baseline__sex="2",
                 infections__inf_date="2052-03-01"),
        *patient("lille", "1"),
        {"site": "lille", "record_id": "1", "form": "treatments", "instance": 2,
         "trt_class": "1", "trt_name": "11", "trt_start": "2020-01-20", "trt_ongoing": "0",
         "trt_stop": "2020-06-01"},
        *patient("lille", "2", infections__inf_hospitalised="0"),
        *patient("lille", "3", outcome__vital_status="2", outcome__death_date="2020-05-01",
                 outcome__last_fu_date="2020-05-01", infections__inf_date="2020-06-01",
                 treatments__trt_stop="2020-04-01"),
        *patient("lille", "4", treatments__trt_ongoing=""),
        *patient("bordeaux", "1", baseline__birth_date="2018-01-01"),
    ]


EXPECTED = {  # (site, record, form, instance, field, rule)
    ("paris", "2", "treatments", "1", "trt_stop", "dates.trt_stop_after_start"),
    ("paris", "3", "icu_stay", "1", "icu_discharge_date", "dates.icu_discharge_after_admission"),
    ("paris", "4", "baseline", "", "icu_ever", "icu.ever_matches_stays"),
    ("lyon", "1", "infections", "1", "inf_site", "dictionary.inf_site.choices"),
    ("lyon", "2", "baseline", "", "cpk", "dictionary.cpk.hidden"),
    ("lyon", "2", "treatments", "1", "trt_stop", "dictionary.trt_stop.required"),
    ("lyon", "3", "treatments", "1", "trt_start", "dictionary.trt_start.type"),
    ("lyon", "4", "baseline", "", "mda5_titre", "dictionary.mda5_titre.range"),
    ("lyon", "4", "infections", "1", "inf_date", "dictionary.inf_date.range"),
    ("lyon", "4", "infections", "1", "inf_date", "infections.date_before_end"),
    ("lille", "1", "treatments", "2", "", "records.duplicate_treatment"),
    ("lille", "2", "infections", "1", "inf_hospitalised", "infections.severe_hospitalised"),
    ("lille", "3", "infections", "1", "inf_date", "infections.date_before_end"),
    ("lille", "4", "treatments", "1", "trt_ongoing", "dictionary.trt_ongoing.required"),
    ("bordeaux", "1", "baseline", "", "birth_date", "dates.birth_date_plausible"),
}
KEY = ["site", "record_id", "form", "instance", "field", "rule_id"]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return make_frames(_rows())


@pytest.fixture(scope="module")
def result(frames, schema):
    return validate(frames, schema, SUITES, site_links={"*": LINK}, today=TODAY)


def _keys(failures: pd.DataFrame) -> set[tuple[str, ...]]:
    return set(failures[KEY].astype(str).itertuples(index=False, name=None))


def test_each_error_gives_exactly_its_flag(result, schema) -> None:
    assert _keys(result.failures) == EXPECTED
    assert list(result.failures.columns) == ["site", "patient_id", "record_id", "event",
                                             "form", "instance", "field", "rule_id",
                                             "severity", "message", "link", "value",
                                             "label", "suggestion", "computed_from",
                                             "involves"]
    row = result.failures[result.failures["field"] == "birth_date"].iloc[0]
    assert row["value"] and row["value"] in row["message"]  # the value as the message shows it
    calc = {n for n, f in schema.fields.items() if f.field_type == "calc"}
    for field, inputs in zip(result.failures["field"], result.failures["computed_from"],
                             strict=True):
        assert bool(inputs) == (field in calc), field
    assert (result.failures["event"] == "").all()  # a classic project


def test_messages_and_links(result) -> None:
    f = result.failures.set_index(["record_id", "site", "rule_id"])
    msg = f.loc[("3", "paris", "dates.icu_discharge_after_admission")]
    assert msg["message"] == "ICU discharge 2020-01-25 is before admission 2020-02-01"
    assert msg["link"] == ("https://redcap.example.org/redcap_v14.5.1/DataEntry/index.php"
                           "?pid=31&id=3&page=icu_stay&instance=1")
    assert f.loc[("4", "paris", "icu.ever_matches_stays")]["link"].endswith(
        "id=4&page=baseline")
    assert "'8'" in f.loc[("1", "lyon", "dictionary.inf_site.choices")]["message"]
    assert "2020-02-30" in f.loc[("3", "lyon", "dictionary.trt_start.type")]["message"]
    hidden = f.loc[("2", "lyon", "dictionary.cpk.hidden")]["message"]
    assert "300" in hidden and "Muscle weakness is Yes" in hidden
    assert f.loc[("2", "lyon", "dictionary.trt_stop.required")]["message"] == \
        ("Stop date is empty, but it is needed because the answer to “Still taken at last "
         "follow-up?” is No")


def test_rule_results_per_site(result) -> None:
    rr = result.rule_results.set_index(["site", "rule_id"])
    sites = {"paris", "lyon", "lille", "bordeaux"}
    assert set(result.rule_results["site"]) == sites
    assert result.rule_results.groupby("rule_id").size().eq(len(sites)).all()
    row = rr.loc[("paris", "dates.icu_discharge_after_admission")]
    assert (row["checked"], row["failed"], row["status"]) == (4, 1, "failed")
    assert row["percent"] == 25.0
    assert rr.loc[("lyon", "dates.icu_discharge_after_admission"), "status"] == "not_applicable"
    assert rr.loc[("bordeaux", "dictionary.inf_site.choices"), "status"] == "passed"
    assert rr.loc[("lyon", "dictionary.trt_start.type"), "failed"] == 1
    # the unreadable date is not also counted (nor flagged) as missing
    assert rr.loc[("lyon", "dictionary.trt_start.required"), "failed"] == 0
    assert not (result.rule_results["status"] == "error").any()
    # every failure is counted in its rule's row
    counted = result.failures.groupby(["site", "rule_id"]).size()
    for (site, rule_id), n in counted.items():
        assert rr.loc[(site, rule_id), "failed"] == n


def test_blocking_patients(result) -> None:
    blocked = blocking_patients(result.failures)
    assert "paris:2" in blocked and "lyon:2" in blocked
    assert "lille:2" not in blocked  # a warning only
    assert "paris:1" not in blocked
    assert blocked == result.blocking_patients()


LOCAL_SUITE = {"name": "local", "expectations": [
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "ferritin", "max_value": 500, "row_condition": {
         "type": "comparison", "column": {"name": "sex"}, "operator": "==",
         "parameter": "Male"}},
     "meta": {"id": "local.ferritin_men", "frame": "patients", "field": "ferritin",
              "severity": "warning", "dimension": "plausibility",
              "message": "Ferritin {ferritin} ng/mL in a man ({sex})"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_col"},
     "meta": {"id": "local.missing_column", "frame": "patients", "field": "sex",
              "severity": "warning", "dimension": "completeness", "message": "x"}},
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "sex", "min_value": 1, "max_value": 2},
     "meta": {"id": "local.throws", "frame": "patients", "field": "sex",
              "severity": "warning", "dimension": "plausibility", "message": "y"}},
]}


def test_data_manager_rule_errors_and_row_order(frames, schema, tmp_path: Path) -> None:
    """A conditional rule added as JSON only; broken rules become `error` rows while the
    others still run; shuffled rows give the same flags."""
    folder = tmp_path / "expectations"
    shutil.copytree(SUITES, folder)
    (folder / "local.json").write_text(json.dumps(LOCAL_SUITE))
    shuffled = {k: v.sample(frac=1.0, random_state=3).reset_index(drop=True)
                for k, v in frames.items()}
    shuffled["conformance"] = frames.conformance
    res = validate(shuffled, schema, folder, site_links=LINK, today=TODAY)
    mine = res.failures[res.failures["rule_id"] == "local.ferritin_men"]
    assert mine[["site", "record_id", "field"]].values.tolist() == [["lyon", "4", "ferritin"]]
    assert mine["message"].tolist() == ["Ferritin 800 ng/mL in a man (Male)"]
    rr = res.rule_results
    errors = rr[rr["status"] == "error"]
    assert set(errors["rule_id"]) == {"local.missing_column", "local.throws"}
    assert errors[errors["rule_id"] == "local.missing_column"]["error"].str.contains(
        "no_such_col").all()
    assert _keys(res.failures) - _keys(mine) == EXPECTED  # the rest ran as before


def test_suites_as_objects_equal_suites_from_folder() -> None:
    from_folder = load_suites(SUITES)
    as_objects = [parse_suite(json.loads(json.dumps(
        {"name": s.name, "expectations": [r.to_dict() for r in s.rules]}))) for s in from_folder]
    assert [s.rules for s in as_objects] == [s.rules for s in from_folder]


def test_a_site_without_records_gets_not_applicable_rows(schema) -> None:
    res = validate(make_frames([]), schema, SUITES, site_links=LINK, today=TODAY,
                   sites=["marseille"])
    assert res.failures.empty
    assert set(res.rule_results["site"]) == {"marseille"}
    assert set(res.rule_results["status"]) == {"not_applicable"}
    assert res.rule_results["rule_id"].is_unique and len(res.rule_results) > 100
