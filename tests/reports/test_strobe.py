"""The STROBE appendix: every cohort-checklist item, answered from this run's report.

Built from the fixture study report (`tests.reports.report_fixtures.study_report`), the
same `StudyReport` the PDF is rendered from.
"""

from __future__ import annotations

import dataclasses

from registry.reports.format import fmt_int
from registry.reports.strobe import AUTHORS, strobe_items
from tests.reports.report_fixtures import study_report

NUMBERS = [str(n) for n in range(1, 12)] + ["12a", "12b", "12c", "12d", "12e"] + [
    str(n) for n in range(13, 23)]


def test_every_item_of_the_cohort_checklist_once_in_order() -> None:
    items = strobe_items(study_report())
    assert [i.number for i in items] == NUMBERS
    assert all(i.topic and i.answer for i in items)


def test_the_answers_quote_this_runs_numbers() -> None:
    report = study_report()
    by = {i.number: i.answer for i in strobe_items(report)}
    f = report.flow
    for n in (f.registry, f.eligible, f.exposed, f.exposed_matched):
        assert fmt_int(n) in by["10"]
    assert fmt_int(report.methods.n_seeds) in by["12a"]
    assert fmt_int(report.main.events) in by["15"]
    for a in report.subgroups:
        assert a.label in by["12b"]
    for a in report.sensitivity:
        assert a.label in by["12e"]
    assert by["2"] == by["20"] == AUTHORS  # nothing a registry run can know


def test_the_per_protocol_ci_is_named_in_the_statistical_methods() -> None:
    report = study_report()
    said = "CI from a patient-level bootstrap (100 replicates redoing the matching)."
    with_pp = dataclasses.replace(report, methods=dataclasses.replace(report.methods,
                                                                      pp_ci=said))
    assert said in {i.number: i.answer for i in strobe_items(with_pp)}["12a"]
    without = dataclasses.replace(report, methods=dataclasses.replace(report.methods,
                                                                      pp_ci=""))
    assert "Per-protocol" not in {i.number: i.answer for i in strobe_items(without)}["12a"]
