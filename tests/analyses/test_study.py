"""The study file: the shipped one parses; malformed ones fail naming the key."""

from __future__ import annotations

import pytest

from analyses import StudySpecError, parse_study
from tests.analyses.synth import STUDY_FILE

TEXT = STUDY_FILE.read_text()


def test_shipped_study_parses_into_the_jak_cni_design() -> None:
    s = parse_study(TEXT)
    assert (s.name, s.horizon_days, s.ratio, s.reuse_controls) == ("jak_cni", 365, 2, True)
    assert s.exposure.groups == (("JAK inhibitor",), ("Calcineurin inhibitor",))
    assert [r.column for r in s.outcome_dates] == ["death_date", "lung_tx_date"]
    assert s.matching_exact == ("rp_ild", "icu_at_index")
    assert [g.filter for g in s.subgroups] == [{"icu_at_index": True},
                                               {"icu_at_index": False}, {"rp_ild": True}]
    assert s.exclude_severities == ("blocking",)
    assert s.variable("icu_at_index").kind == "started_by"
    assert s.variable("in_icu_on_index").kind == "in_interval"


def test_spec_is_frozen() -> None:
    s = parse_study(TEXT)
    with pytest.raises(AttributeError):
        s.ratio = 3  # type: ignore[misc]


SECOND = """
[study]
name = "rituximab"
horizon_days = 180
ratio = 1
reuse_controls = false
[time]
origin = { frame = "patients", column = "diagnosis_date" }
censor = { frame = "outcomes", column = "last_fu_date" }
[exposure]
frame = "treatments"
class_column = "trt_class"
start = "trt_start"
stop = "trt_stop"
ongoing = "trt_ongoing"
all_of = [["Rituximab"]]
[outcome]
frame = "outcomes"
event_dates = ["death_date"]
"""


def test_a_second_study_is_just_another_file() -> None:
    s = parse_study(SECOND)
    assert (s.name, s.ratio, s.reuse_controls, s.horizon_days) == ("rituximab", 1, False, 180)
    assert s.variables == () and s.subgroups == () and s.infections is None
    assert s.variance == "model" and s.seed_repeats == 200


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda t: t.replace("ratio = 2 ", "ratio = \"two\" "), "study.ratio must be int"),
    (lambda t: t.replace("horizon_days = 365", "horizon_days = 0"), "must be > 0"),
    (lambda t: t.replace('name = "jak_cni"', ""), "missing required key study.name"),
    (lambda t: t.replace("[matching]", "[matching]\nfuzzy = 1"), "unknown key(s) ['fuzzy']"),
    (lambda t: t.replace('exact = ["rp_ild", "icu_at_index"]', 'exact = ["rpild"]'),
     "'rpild', which is not a declared"),
    (lambda t: t.replace('frame = "icu_stays"', 'frame = ""'), "must name a frame"),
    (lambda t: t.replace('origin = { frame = "patients", column = "diagnosis_date" }',
                         'origin = { frame = "patients", column = "diagnosis_date", '
                         'day = 1 }'), "time.origin must be"),
    (lambda t: t.replace('[time]', '[time]\nentry = { frame = "patients" }'),
     "time.entry must be"),
    (lambda t: t.replace('variance = "model"', 'variance = "bootstrap"'), "study.variance"),
    (lambda t: t.replace('kind = "in_interval"', 'kind = "window"'), "kind must be"),
    (lambda t: t.replace('all_of = [["JAK inhibitor"], ["Calcineurin inhibitor"]]',
                         'all_of = "JAK"'), "exposure.all_of"),
    (lambda t: t.replace("filter = { rp_ild = true }", "filter = { ferritin_high = true }"),
     "'ferritin_high', not a declared"),
    (lambda t: t + "\n[[[oops", "not valid TOML"),
    (lambda t: t.replace('origin = { frame = "patients", column = "diagnosis_date" }',
                         'origin = "diagnosis_date"'), "time.origin must be"),
])
def test_malformed_study_names_the_problem(edit, needle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StudySpecError) as err:
        parse_study(edit(TEXT), source="studies/x.toml")
    assert needle in str(err.value)
    assert str(err.value).startswith("studies/x.toml: ")
