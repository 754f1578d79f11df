"""The PIs' study PDF, rendered for real: its numbers are `<study>.json`'s."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pdf_text
import pytest
import report_fixtures as fx

from registry.errors import RegistryError
from registry.reports.format import fmt_ci, fmt_hr, fmt_hr_ci, fmt_int, fmt_p
from registry.reports.study import methods_paragraph, render_study_pdf


def _row(entry: dict) -> str:
    """One results-table row as the template prints it, numbers in column order."""
    return " ".join([fmt_int(entry["n_sets"]), fmt_int(entry["n_exposed"]),
                     fmt_int(entry["n_controls"]), fmt_int(entry["events"]),
                     fmt_hr(entry["hr"]), fmt_ci(entry["ci_low"], entry["ci_high"]),
                     fmt_p(entry["p"])])


def test_every_analysis_of_the_study_json_is_in_the_results_table(study_pdf):
    _, path = study_pdf
    content = pdf_text.text(path)
    table = content[content.index("Results Analysis Sets"):]
    for entry in fx.STUDY_JSON["analyses"]:
        label = fx.LABELS[entry["name"]]
        found = re.search(re.escape(label) + r"(?: [^0-9<]{0,80})? " + re.escape(_row(entry)),
                          table)
        assert found, f"{entry['name']}: expected '{label} ... {_row(entry)}'"
        # and on the forest plot, HR (CI) beside its line
        assert fmt_hr_ci(entry["hr"], entry["ci_low"], entry["ci_high"]) in content


def test_headline_is_the_main_analysis_with_its_ci(study_pdf):
    report, path = study_pdf
    main = fx.STUDY_JSON["analyses"][0]
    content = pdf_text.text(path)
    first_page = content[: content.index("Page 1 of")]
    assert (f"Hazard ratio {fmt_hr(main['hr'])} (95% CI {fmt_ci(main['ci_low'], main['ci_high'])})"
            f", p = {fmt_p(main['p'])}") in first_page
    assert (f"{main['n_exposed']} exposed patients and {main['n_controls']} controls in "
            f"{main['n_sets']} matched sets; {main['events']} events") in first_page
    assert f"CI: {report.ci_method}." in first_page
    assert ("One draw alone gives HRs between 0.91 and 1.13 (middle 95% of the 20 draws, "
            "median 1.01)") in first_page


def test_what_changed_since_the_last_report(study_pdf):
    content = pdf_text.text(study_pdf[1])
    assert "Patients in the registry 231 234 +3" in content
    assert "Events (death or lung transplant) 37 39 +2" in content
    assert "Hazard ratio (95% CI) 0.99 (0.46 to 2.12) 1.02 (0.48 to 2.16)" in content


def test_cohort_flow_and_short_sets(study_pdf):
    content = pdf_text.text(study_pdf[1])
    for piece in ("234 patients in the registry", "6 patients left out for blocking",
                  "228 patients with usable records", "11 patients not eligible",
                  "217 eligible patients", "29 exposed to JAK-CNI",
                  "2 exposed patients with no eligible control",
                  "27 exposed + 52 controls in 27 matched sets (1:2)",
                  "2 sets with fewer than 2 controls"):
        assert piece in content, piece


def test_stale_site_is_named_with_its_snapshot_date(study_pdf):
    content = pdf_text.text(study_pdf[1])
    assert "Nice: not reached tonight, last good data of 22 Nov 2026, 02:11 UTC" in content
    assert "nice-20261122T021100Z" in content
    # REDCap's own words stay in the logs and `registry status` (#11), said once
    assert "REDCap was unreachable" not in content
    assert content.count("not reached tonight") == 2      # the notice and the data table


def test_km_numbers_at_risk_table_1_infections_quality_methods(study_pdf):
    report, path = study_pdf
    content = pdf_text.text(path)
    for curve in report.km:
        assert " ".join(str(n) for _, n in curve.at_risk) in content
    assert "Age at diagnosis, years, mean (SD) 52.1 (12.4) 54.3 (13.0) -0.17" in content
    assert "Any infection, n (%) 17 (63.0) 32 (61.5) 1.04 (0.57 to 1.89)" in content
    assert "Lyon 75 2 7 2 2 of 6 0" in content
    assert "dates.fu_after_diagnosis blocking 1 (1.0%) 2 (2.7%) 3 (4.9%)" in content
    assert "HR 0.97 (0.47 to 2.01) with 42 events" in content  # clean vs all records
    assert "lifelines 0.30.3" in content and "weasyprint 70.0" in content
    assert "S-20261125T021400Z" in content


def test_methods_paragraph_comes_from_the_study_file():
    report = fx.study_report()
    text = methods_paragraph(report)
    assert "with up to 2 controls" in text
    assert "within 365 days of the index day" in text
    assert "on site, RP-ILD, ICU at index and days since diagnosis (±30)" in text
    other = replace(report, methods=replace(report.methods, k=4, horizon_days=180,
                                            matching=("site",)))
    text = methods_paragraph(other)
    assert "with up to 4 controls" in text and "within 180 days" in text
    assert "on site;" in text


def test_first_report_has_nothing_to_compare(tmp_path: Path):
    report = fx.study_report(previous=False, stale_site=False)
    content = pdf_text.text(render_study_pdf(report, tmp_path / "s.pdf"))
    assert "first report of this study" in content
    assert "Not all sites are up to date" not in content


def test_a4_fonts_embedded_and_rebuilt_identically(study_pdf, tmp_path: Path):
    report, path = study_pdf
    assert all(round(h, 1) == 841.9 and round(w, 1) == 595.3
               for w, h in pdf_text.page_sizes(path))
    fonts = pdf_text.fonts(path)
    assert fonts and all(fonts.values()), fonts
    again = render_study_pdf(report, tmp_path / "again.pdf")
    assert again.read_bytes() == path.read_bytes()


def test_a_study_without_analyses_is_refused(tmp_path: Path):
    with pytest.raises(RegistryError, match="no analyses"):
        render_study_pdf(replace(fx.study_report(), analyses=()), tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()
