"""registry.tidy: flat REDCap rows -> typed frames per form, per the docs/design.md table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from registry.fieldtypes import export_columns
from registry.sandbox import dictionary
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import CONFORMANCE_COLUMNS, KEY_COLUMNS, tidy
from tests import anti_mda5

META = dictionary.metadata()
SCHEMA = anti_mda5.schema(META)
COLUMNS = [c for c in export_columns(META) if c != "record_id"]


def _base(rid: str, dag: str = "", **values: str) -> dict[str, object]:
    row: dict[str, object] = {"record_id": rid, "redcap_repeat_instrument": "",
                              "redcap_repeat_instance": "", "redcap_data_access_group": dag}
    row.update(dict.fromkeys(COLUMNS, ""))
    row.update(values)
    return row


def _repeat(rid: str, form: str, instance: object, **values: str) -> dict[str, object]:
    row = _base(rid)
    row.update(redcap_repeat_instrument=form, redcap_repeat_instance=instance, **values)
    return row


@pytest.fixture(scope="module")
def registry_frames():
    reg = generate(GeneratorParams(error_rate=0.3))
    return reg, tidy(reg.rows_by_site(), anti_mda5.schema(reg))


def test_frames_have_the_contract_keys_and_dtypes(registry_frames) -> None:
    reg, f = registry_frames
    for frame in (f.patients, f.treatments, f.icu_stays, f.infections, f.outcomes):
        assert tuple(frame.columns[:7]) == KEY_COLUMNS
        assert str(frame["instance"].dtype) == "Int64"
        assert (frame["event"] == "").all() and frame["arm"].isna().all()  # classic
        assert not any(c.endswith("_complete") for c in frame.columns)
    assert tuple(f.conformance.columns) == CONFORMANCE_COLUMNS
    assert len(f.patients) == len(f.outcomes) == 234
    assert f.patients["patient_id"].is_unique
    assert f.patients["instance"].isna().all() and f.treatments["instance"].notna().all()
    d = f.patients.dtypes.astype(str).to_dict()
    assert d["birth_date"] == "datetime64[ns]" and d["mda5_titre"] == "Int64"
    assert d["ferritin"] == "Float64" and d["ild"] == "boolean" and d["sex"] == "string"
    assert d["skin___3"] == "boolean" and d["age_at_diagnosis"] == "Float64"
    assert "record_id" not in f.patients.columns[7:]
    assert set(f.patients["sex"].dropna()) <= {"Female", "Male", "3", "4", "5"}
    assert f.treatments["trt_class"].isin(["Glucocorticoids", "JAK inhibitor"]).any()
    n_rep = sum(1 for r in reg.records if r["redcap_repeat_instrument"] == "treatments")
    assert len(f.treatments) == n_rep
    assert f.forms["icu_stay"] is f.icu_stays is f["icu_stays"]
    assert list(f) == ["patients", "treatments", "icu_stays", "infections", "outcomes"]


def test_impossible_dates_in_the_registry_become_conformance_rows(registry_frames) -> None:
    reg, f = registry_frames
    truth = {(t.record_id, t.form, t.instance, t.field) for t in reg.truth
             if t.error_kind == "impossible_date"}
    conf = {(r, fm, "" if pd.isna(i) else str(i), fd) for r, fm, i, fd in zip(
        f.conformance["record_id"], f.conformance["form"], f.conformance["instance"],
        f.conformance["field"], strict=True)}
    assert truth and conf == truth


def test_edge_cases_by_hand() -> None:
    rows_a = [
        _base("1", "paris", sex="1", birth_date="1970-02-30", diagnosis_date="2020-01-05",
              mda5_titre="12.5", ferritin="1e3", ild="1", skin___1="1", skin___2="0",
              hrct_pattern="7", baseline_notes="Patiente transférée — Créteil",
              last_fu_date="2021-01-01", vital_status="1", fu_days="362"),
        _repeat("1", "treatments", 1, trt_class="1", trt_name="11",
                trt_start="2020-02-01", trt_ongoing="1"),
        _repeat("1", "treatments", "2"),  # an empty instance: dropped
        _repeat("1", "infections", "1", inf_date="2020-03-01", inf_site="8"),
    ]
    rows_b = [_base("1", "lyon", sex="2"), _repeat("1", "icu_stay", 3,
                                                   icu_admit_date="2020-01-09")]
    f = tidy({"paris": rows_a, "lyon": rows_b}, SCHEMA)
    p = f.patients.set_index("patient_id")
    assert list(p.index) == ["paris:1", "lyon:1"]
    assert p.loc["paris:1", "sex"] == "Female" and p.loc["lyon:1", "sex"] == "Male"
    assert pd.isna(p.loc["paris:1", "birth_date"])
    assert p.loc["paris:1", "diagnosis_date"] == pd.Timestamp("2020-01-05")
    assert pd.isna(p.loc["paris:1", "mda5_titre"]) and p.loc["paris:1", "ferritin"] == 1000
    assert p.loc["paris:1", "skin___1"] is True or bool(p.loc["paris:1", "skin___1"])
    assert not p.loc["paris:1", "skin___2"] and pd.isna(p.loc["lyon:1", "skin___1"])
    assert p.loc["paris:1", "hrct_pattern"] == "7"  # unknown code kept verbatim
    assert p.loc["paris:1", "baseline_notes"] == "Patiente transférée — Créteil"
    assert pd.isna(p.loc["lyon:1", "mda5_titre"]) and pd.isna(p.loc["lyon:1", "ild"])
    assert f.outcomes.set_index("patient_id").loc["paris:1", "fu_days"] == 362
    assert len(f.treatments) == 1 and f.treatments["instance"].tolist() == [1]
    assert bool(f.treatments["trt_ongoing"].iloc[0])
    assert f.treatments["trt_class"].iloc[0] == "JAK inhibitor"
    assert f.infections["inf_site"].tolist() == ["8"]
    assert f.icu_stays["patient_id"].tolist() == ["lyon:1"]
    assert f.icu_stays["instance"].tolist() == [3]
    conf = f.conformance.set_index("field")
    assert set(conf.index) == {"birth_date", "mda5_titre"}
    assert conf.loc["birth_date", "value"] == "1970-02-30"
    assert conf.loc["birth_date", "patient_id"] == "paris:1"
    assert "date_ymd" in conf.loc["birth_date", "reason"]


def test_empty_input_gives_empty_typed_frames() -> None:
    f = tidy({"paris": []}, SCHEMA)
    assert f.patients.empty and f.treatments.empty and f.conformance.empty
    assert tuple(f.treatments.columns[:7]) == KEY_COLUMNS
    assert str(f.treatments["trt_start"].dtype) == "datetime64[ns]"


def test_missing_keys_and_int_ids_are_tolerated() -> None:
    rows = [{"record_id": 7, "redcap_repeat_instrument": None, "sex": "2"},
            {"record_id": 7, "redcap_repeat_instrument": "infections",
             "redcap_repeat_instance": 1.0, "inf_date": "2020-01-01"}]
    f = tidy({"s": rows}, SCHEMA)
    assert f.patients["patient_id"].tolist() == ["s:7"]
    assert f.infections["instance"].tolist() == [1]
    assert pd.isna(f.patients["birth_date"].iloc[0])


@pytest.mark.slow
def test_tidy_takes_23400_patients() -> None:
    # Its speed is benchmarks/quality_speed.py's and nightly_scale.py's (tidy's CPU time).
    reg = generate(GeneratorParams(patients=23400, error_rate=0.1))
    f = tidy(reg.rows_by_site(), anti_mda5.schema(reg))
    assert len(f.patients) == 23400


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["patient_id", "instance"]).reset_index(drop=True)


def test_row_order_and_int_instances_do_not_change_the_frames(registry_frames) -> None:
    reg, f = registry_frames
    rng = np.random.default_rng(1)
    shuffled = {}
    for site, rows in reg.rows_by_site().items():
        rows = [dict(r) for r in rows]
        for r in rows:  # REDCap JSON sends the instance as an int on repeat rows
            if r["redcap_repeat_instance"]:
                r["redcap_repeat_instance"] = int(r["redcap_repeat_instance"])
        shuffled[site] = [rows[i] for i in rng.permutation(len(rows))]
    g = tidy(shuffled, anti_mda5.schema(reg))
    for name in ("patients", "treatments", "icu_stays", "infections", "outcomes"):
        pd.testing.assert_frame_equal(_sorted(getattr(f, name)), _sorted(getattr(g, name)))
    pd.testing.assert_frame_equal(_sorted(f.conformance), _sorted(g.conformance))
