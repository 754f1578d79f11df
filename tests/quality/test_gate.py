"""The one gate: which patients a study leaves out (`quality.blocking_patients`).

Production (`registry.analysing.analyse_run`) calls it on the run's stored flag set;
`QualityResult.blocking_patients()` on tonight's failures. Both shapes are checked here.
"""

from __future__ import annotations

import pandas as pd

from registry.quality import blocking_patients


def _flag(record: str, severity: str = "blocking", status: str = "new", site: str = "paris",
          **extra) -> dict:
    return {"site": site, "record_id": record, "form": "treatments", "instance": 1,
            "field": "trt_start", "rule_id": "r", "severity": severity, "status": status,
            **extra}


def test_stored_flags_only_open_ones_of_the_study_severities_count() -> None:
    flags = [_flag("1"), _flag("2", status="open"), _flag("3", status="reopened"),
             _flag("4", status="resolved"), _flag("5", severity="warning"),
             _flag("6", site="lyon", details={"patient_id": "lyon:6"})]
    assert blocking_patients(flags) == {"paris:1", "paris:2", "paris:3", "lyon:6"}
    assert blocking_patients(flags, ["blocking", "warning"]) == \
        {"paris:1", "paris:2", "paris:3", "paris:5", "lyon:6"}
    assert blocking_patients(flags, []) == set()


def test_tonights_failures_have_no_status_and_all_count() -> None:
    failures = pd.DataFrame([
        {"site": "paris", "patient_id": "paris:1", "record_id": "1", "severity": "blocking"},
        {"site": "paris", "patient_id": "paris:2", "record_id": "2", "severity": "warning"},
    ])
    assert blocking_patients(failures) == {"paris:1"}
    assert blocking_patients(failures.iloc[0:0]) == set()


def test_production_and_the_quality_package_share_the_one_gate() -> None:
    import registry.analysing
    from registry.quality import flags

    assert not hasattr(registry.analysing, "excluded_patients")
    assert "blocking_patients" in registry.analysing.analyse_run.__code__.co_names or \
        "blocking_patients" in registry.analysing.analyse_run.__code__.co_varnames
    assert blocking_patients is flags.blocking_patients


def test_the_patient_key_is_the_flags_own_when_it_has_one() -> None:
    # a registry keying patients otherwise than <site>:<record_id> (a longitudinal one,
    # a patient moved between sites): the flag's own patient_id, then its details'
    flags = [_flag("7", patient_id="lyon:P-0007", site="lyon"),
             _flag("8", details={"patient_id": "paris:P-0008"}),
             _flag("9", patient_id="", details={"patient_id": "paris:P-0009"}),
             _flag("10", patient_id=None, details=None)]
    assert blocking_patients(flags) == {"lyon:P-0007", "paris:P-0008", "paris:P-0009",
                                        "paris:10"}
    failures = pd.DataFrame([{"site": "paris", "patient_id": "paris:P-0001", "record_id": "1",
                              "severity": "blocking"}])
    assert blocking_patients(failures) == {"paris:P-0001"}
