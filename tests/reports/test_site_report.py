"""Site coordinator PDFs, rendered for real and read back with pypdf."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pdf_text
import pytest
import report_fixtures as fx

from registry.errors import RegistryError
from registry.reports import site as site_module
from registry.reports.site import COMPACT_FROM, record_groups, render_site_pdf, verdict
from registry.reports.site_groups import by_rule

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
    typed = [f for f in report.open_flags if not f.is_calculated]
    blocked = {f.record_id for f in report.open_flags if f.is_blocking}
    n_blocking = sum(f.is_blocking for f in typed)
    # records and flags counted apart; the calculated age is not a flag to type in
    others = {f.record_id for f in report.open_flags} - blocked
    warnings = [f for f in typed if not f.is_blocking and f.record_id in others]
    more = (f"; {len(others)} more records with {len(warnings)} warnings to check"
            if others else "")
    assert line == f"{len(blocked)} records with {n_blocking} blocking flags{more}."
    lyon = fx.site_report("lyon", 100)
    assert re.fullmatch(r"\d+ records with \d+ blocking flags; \d+ more records with \d+ "
                        r"warnings to check\.", verdict(lyon))
    assert line in content
    # each count tile: the number, then what it counts (pypdf may drop the space between)
    for n, what in ((len(blocked), "records left out of the analyses until fixed"),
                    (n_blocking, "blocking flags in them"),
                    (sum(not f.is_blocking for f in typed), "warnings: please check"),
                    (report.n_new, "new since the report of 24 Nov 2026"),
                    (report.n_resolved, "fixed since the report of 24 Nov 2026")):
        assert re.search(rf"(?<!\d){n} ?{re.escape(what)}", content), (n, what)
    assert "Not counted above: 1 flag on fields REDCap calculates" in content
    assert ("Over the last 90 days 37 flags were fixed, after 6 days (median); 3 came back "
            "after a fix (reopen rate 8%).") in content
    assert "Snapshot paris-20261125T021400Z" in content
    assert content.count(f"run {fx.RUN_ID}") == len(pdf_text.page_sizes(path))  # header/page


def test_each_open_flag_shows_its_suggestion_and_how_long_it_has_been_open(site_pdfs):
    report, path = site_pdfs["paris"]
    content = pdf_text.text(path)
    for f in report.open_flags:
        days = (report.run_time.date() - f.first_seen).days
        said = "new tonight" if days == 0 else f"open {days} day" + ("s" if days > 1 else "")
        assert f"check {f.rule_id} · {said}" in content, (f.rule_id, said)
    shown = [line.flag for g in record_groups(report) for line in g.lines
             if line.flag.suggestion and not line.follows and not line.flag.is_calculated]
    assert shown and all(f.suggestion in content for f in shown)


def test_one_wrong_cell_is_named_first_and_the_flags_it_explains_grouped_under_it(site_pdfs):
    report, path = site_pdfs["paris"]
    group = next(g for g in record_groups(report) if g.record_id == "P0990")
    assert group.root is not None and group.root.field == "death_date"
    assert group.root.explained == 7 and group.n_flags == 8
    assert [line.root for line in group.lines][:1] == [True]
    assert [line.follows for line in group.lines] == [False] + [True] * 6 + [False]
    assert group.lines[-1].flag.is_calculated  # the calculated age: checked via its inputs
    assert (group.n_to_type, group.n_calculated, group.n_blocking) == (7, 1, 7)
    content = pdf_text.text(path)
    assert ("Fix first: Date of death (Outcome), now 2001-01-01. 7 of this record's 8 flags "
            "depend on this cell") in content
    assert "Calculated by REDCap: check Date of birth, Date of diagnosis" in content
    assert "7 flags to fix, 7 blocking · 1 calculated" in content
    start = content.index("Record P0990")
    block = content[start:content.index("Record", start + 10) if "Record" in content[
        start + 10:] else len(content)]
    assert block.index("Death 2001-01-01") < block.index("Treatment start 2023-01-02")
    # no root where no cell explains most flags: the random records have none
    assert sum(g.root is not None for g in record_groups(report)) == 1


def test_a_site_with_nothing_to_fix_gets_a_short_positive_report(site_pdfs):
    _, path = site_pdfs["nice"]
    content = pdf_text.text(path)
    assert "Nothing to fix: all 61 records pass every check." in content
    assert "Open in REDCap" not in content
    assert len(pdf_text.page_sizes(path)) == 1


def test_flags_are_grouped_by_record_blocking_first():
    report = fx.site_report("lyon", 100)
    groups = record_groups(report)
    assert sum(g.n_flags for g in groups) == len(report.open_flags)
    assert len({g.record_id for g in groups}) == len(groups)
    has_blocking = [g.n_blocking > 0 for g in groups]
    assert has_blocking == sorted(has_blocking, reverse=True)  # blocking records first
    for group in groups:
        assert {line.flag.record_id for line in group.lines} == {group.record_id}
        if group.root is None:
            sev = [line.flag.is_blocking for line in group.lines]
            assert sev == sorted(sev, reverse=True)


def test_many_flags_get_the_checks_by_count_then_a_compact_list(site_pdfs):
    report, path = site_pdfs["lyon"]
    assert len(report.open_flags) >= COMPACT_FROM
    content = pdf_text.text(path)
    assert "What matters most" in content and "All open flags, record by record" in content
    counts = by_rule(report.open_flags, report.form_labels)
    assert sum(c.flags for c in counts) == len(report.open_flags)
    blocking = [c.severity == "blocking" for c in counts]
    assert blocking == sorted(blocking, reverse=True)
    for c in counts:  # each check once, with its counts and its suggestion
        assert re.search(rf"check {re.escape(c.rule_id)} ?{c.flags} ?{c.records}", content), c
    # the compact list: every record in order, one line per flag, each with its link
    positions = [content.index(g.record_id, content.index("All open flags"))
                 for g in record_groups(report)]
    assert positions == sorted(positions)
    assert len(pdf_text.links(path)) == len(report.open_flags)
    # 100 flags: compact enough for a handful of pages (one block per record was 12)
    assert len(pdf_text.page_sizes(path)) <= 5


def test_a_long_list_stops_at_whole_records_and_points_to_the_spreadsheets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(site_module, "DETAIL_MAX", 30)
    report = fx.site_report("lyon", 100)
    path = render_site_pdf(report, tmp_path / "site-lyon.pdf")
    content = pdf_text.text(path)
    groups = record_groups(report)
    shown = 0
    while sum(g.n_flags for g in groups[:shown + 1]) <= 30:
        shown += 1
    n_shown = sum(g.n_flags for g in groups[:shown])
    rest = groups[shown:]
    # whole records, blocking first, one link per flag shown; the rest counted, not listed
    assert len(pdf_text.links(path)) == n_shown
    assert f"The first {shown} records to fix" in content
    flat = " ".join(content.split())
    assert (f"The other {sum(g.n_flags for g in rest)} open flags "
            f"({sum(g.n_blocking for g in rest)} of them blocking), on {len(rest)} records, "
            "are in this report's spreadsheets: flags-lyon.xlsx") in flat
    listed = content[content.index("The first"):]
    assert not any(re.search(rf"\b{g.record_id}\b", listed) for g in rest)
    # the verdict and the checks by count still count every flag
    assert verdict(report) in flat
    for c in by_rule(report.open_flags, report.form_labels):
        assert re.search(rf"check {re.escape(c.rule_id)} ?{c.flags} ?{c.records}", content), c


def test_pdf_order_follows_the_grouping(site_pdfs):
    report, path = site_pdfs["paris"]
    content = pdf_text.text(path)
    positions = [content.index(f"Record {g.record_id}") for g in record_groups(report)]
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
