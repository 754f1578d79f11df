"""Site coordinator PDFs, rendered for real and read back with pypdf."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pdf_text
import pytest
import report_fixtures as fx

from registry.errors import RegistryError
from registry.reports.site import group_flags, render_site_pdf, verdict

A4 = (595.28, 841.89)


def test_each_site_pdf_holds_its_own_records_and_no_other_sites(site_pdfs):
    for site, (report, path) in site_pdfs.items():
        content = pdf_text.text(path)
        for record in report.records_to_fix:
            assert record in content, f"{site}: record {record} missing from its report"
        for other, prefix in fx.PREFIX.items():
            if other != site:
                leaked = re.findall(rf"\b{prefix}\d{{4}}\b", content)
                assert not leaked, f"{site} report shows {other} records {leaked[:5]}"


def test_links_open_the_right_form_of_the_right_record(site_pdfs):
    report, path = site_pdfs["paris"]
    uris = pdf_text.links(path)
    expected = [f.link for f in report.open_flags]
    assert sorted(uris) == sorted(expected)
    for uri in uris:
        assert f"pid={fx.PIDS['paris']}&" in uri
    # one flag on a repeating form: its link names the instance
    repeat = next(f for f in report.open_flags if f.instance is not None)
    assert fx.link("paris", repeat.record_id, repeat.form, repeat.instance) in uris
    assert f"&page={repeat.form}&instance={repeat.instance}" in repeat.link


def test_verdict_and_counts_are_on_the_first_page(site_pdfs):
    report, path = site_pdfs["paris"]
    content = pdf_text.text(path)
    line = verdict(report)
    assert line.startswith(f"{len(report.open_flags)} things to fix in "
                           f"{len(report.records_to_fix)} records; {report.n_blocking} block")
    assert line in content
    # each count tile: the number, then what it counts (pypdf may drop the space between)
    for n, what in ((report.n_blocking, "blocking: the record is left out of the analyses"),
                    (report.n_warning, "warnings: please check"),
                    (report.n_new, "new since the report of 24 Nov 2026"),
                    (report.n_resolved, "fixed since the report of 24 Nov 2026")):
        assert re.search(rf"(?<!\d){n} ?{re.escape(what)}", content), (n, what)
    assert "Snapshot paris-20261125T021400Z" in content
    assert content.count(f"run {fx.RUN_ID}") == len(pdf_text.page_sizes(path))  # header/page


def test_a_site_with_nothing_to_fix_gets_a_short_positive_report(site_pdfs):
    _, path = site_pdfs["nice"]
    content = pdf_text.text(path)
    assert "Nothing to fix: all 61 records pass every check." in content
    assert "Open in REDCap" not in content
    assert len(pdf_text.page_sizes(path)) == 1


def test_flags_are_grouped_by_patient_then_form_blocking_first():
    report = fx.site_report("lyon", 100)
    groups = group_flags(report.open_flags)
    assert sum(g.n_flags for g in groups) == len(report.open_flags)
    assert len({g.record_id for g in groups}) == len(groups)
    has_blocking = [g.n_blocking > 0 for g in groups]
    assert has_blocking == sorted(has_blocking, reverse=True)  # blocking patients first
    for patient in groups:
        blocking_forms = [f.n_blocking > 0 for f in patient.forms]
        assert blocking_forms == sorted(blocking_forms, reverse=True)
        for form in patient.forms:
            sev = [f.is_blocking for f in form.flags]
            assert sev == sorted(sev, reverse=True)
            assert {(f.record_id, f.form, f.instance) for f in form.flags} == {
                (patient.record_id, form.form, form.instance)}


def test_pdf_order_follows_the_grouping(site_pdfs):
    report, path = site_pdfs["lyon"]
    content = pdf_text.text(path)
    positions = [content.index(f"Record {g.record_id}") for g in group_flags(report.open_flags)]
    assert positions == sorted(positions)


def test_a_flag_of_another_site_is_refused_and_nothing_is_written(tmp_path: Path):
    paris = fx.site_report("paris", 4)
    intruder = fx.make_flags("lyon", 1, resolved=0)[0]
    bad = replace(paris, flags=paris.flags + (intruder,))
    target = tmp_path / "site-paris.pdf"
    with pytest.raises(RegistryError, match="lyon"):
        render_site_pdf(bad, target)
    assert list(tmp_path.iterdir()) == []


def test_a4_and_embedded_fonts(site_pdfs):
    for _, path in site_pdfs.values():
        for w, h in pdf_text.page_sizes(path):
            assert (round(w, 1), round(h, 1)) == (round(A4[0], 1), round(A4[1], 1))
        fonts = pdf_text.fonts(path)
        assert fonts and all(fonts.values()), fonts
        assert any("DejaVu" in name for name in fonts)


def test_rebuilding_a_report_gives_the_same_bytes_and_leaves_no_temp_file(tmp_path: Path):
    report = fx.site_report("paris", 12)
    first = render_site_pdf(report, tmp_path / "a.pdf").read_bytes()
    second = render_site_pdf(report, tmp_path / "b.pdf").read_bytes()
    assert first == second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "b.pdf"]


def test_an_unwritable_target_is_a_registry_error(tmp_path: Path):
    blocker = tmp_path / "reports"
    blocker.write_text("a file where the run directory should be")
    with pytest.raises(RegistryError, match="report directory"):
        render_site_pdf(fx.site_report("paris", 2), blocker / "run" / "site-paris.pdf")


def test_a_stale_snapshot_is_said_plainly(tmp_path: Path):
    report = fx.site_report("paris", 2, stale_note="Last night's pull failed (REDCap "
                            "unreachable).")
    content = pdf_text.text(render_site_pdf(report, tmp_path / "s.pdf"))
    assert "Not tonight's data. Last night's pull failed (REDCap unreachable)." in content


def test_a_site_report_with_100_flags_renders_in_a_few_seconds(tmp_path: Path):
    report = fx.site_report("lyon", 100)
    start = time.perf_counter()
    render_site_pdf(report, tmp_path / "site-lyon.pdf")
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"site report with 100 flags took {elapsed:.1f} s"
