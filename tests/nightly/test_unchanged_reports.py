"""A night on which nothing changed renders no site PDF again (issue #14).

Through the production path: two more nightly runs (`nightly_command`, what the CLI
calls) on the baseline's store, the sandbox unchanged. The first of them has something
to say (the baseline's flags are no longer new); after it, nothing changed: each site's
report is that run's (`registry.reports.reuse`, decided from the store alone) and its
PDF is copied from the render cache on disk, byte for byte, and the log's
`report.pdfs` event counts what was laid out and reused. The two nights run without
the study (the claim is about the site reports): the third lays out nothing at all.
"""

from __future__ import annotations

import re
from pathlib import Path

from registry.commands.nightly import nightly_command
from tests.nightly.conftest import without_study

REPORT_PDFS = re.compile(r"event=report\.pdfs rendered=(\d+) reused=(\d+)")


def _night(folder: Path, capsys) -> Path:
    code = nightly_command(folder / "settings.toml")
    out, err = capsys.readouterr()
    assert code == 0, err
    run_id = re.search(r"^run (\S+): ", out, re.M).group(1)  # type: ignore[union-attr]
    return folder / "var" / "reports" / run_id


def test_a_night_that_changed_nothing_lays_out_no_site_pdf_again(night_dir, baseline, capsys):
    without_study(night_dir)
    second, third = _night(night_dir, capsys), _night(night_dir, capsys)
    sites = sorted(p.name for p in second.glob("site-*.pdf"))
    assert sites and second != third
    for name in sites:  # the same report, not a new one saying the same
        assert (third / name).read_bytes() == (second / name).read_bytes(), name
    counts = [tuple(map(int, m.groups())) for m in REPORT_PDFS.finditer(
        (night_dir / "registry.log").read_text(encoding="utf-8"))]
    assert len(counts) == 3  # the baseline's night, then these two
    pdfs = len(list(third.glob("*.pdf")))
    # the night after the baseline laid out the site PDFs that changed (a site with
    # nothing new to say has the baseline's HTML again: its PDF is a cache copy)
    first = night_dir / "var" / "reports" / baseline.run_id
    changed = [n for n in sites if (second / n).read_bytes() != (first / n).read_bytes()]
    assert changed and counts[1] == (len(changed), len(sites) - len(changed))
    rendered, reused = counts[2]
    assert reused >= len(sites) and rendered + reused == pdfs
    assert rendered <= pdfs - len(sites)  # at most the studies' PDFs (none here)
