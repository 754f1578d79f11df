"""A night on which nothing changed renders no site PDF again (issue #14).

Through the production path: two more `registry nightly` runs (CLI, subprocess) on the
baseline's store, the sandbox unchanged. The first of them has something to say (the
baseline's flags are no longer new); after it, nothing changed: each site's report is
that run's (`registry.reports.reuse`) and its PDF is copied from the render cache, byte
for byte, and the log's `report.pdfs` event counts what was laid out and reused.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.nightly.conftest import nightly_cli

REPORT_PDFS = re.compile(r"event=report\.pdfs rendered=(\d+) reused=(\d+)")


def _night(folder: Path) -> Path:
    proc = nightly_cli(folder / "settings.toml")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    run_id = re.search(r"^run (\S+): ", out, re.M).group(1)  # type: ignore[union-attr]
    return folder / "var" / "reports" / run_id


def test_a_night_that_changed_nothing_lays_out_no_site_pdf_again(night_dir, baseline):
    second, third = _night(night_dir), _night(night_dir)
    sites = sorted(p.name for p in second.glob("site-*.pdf"))
    assert sites and second != third
    for name in sites:  # the same report, not a new one saying the same
        assert (third / name).read_bytes() == (second / name).read_bytes(), name
    counts = [tuple(map(int, m.groups())) for m in REPORT_PDFS.finditer(
        (night_dir / "registry.log").read_text(encoding="utf-8"))]
    assert len(counts) == 3  # the baseline's night, then these two
    pdfs = len(list(third.glob("*.pdf")))
    assert counts[1][0] >= len(sites)  # the night after the baseline: laid out
    rendered, reused = counts[2]
    assert reused >= len(sites) and rendered + reused == pdfs
    assert rendered <= pdfs - len(sites)  # at most the studies' PDFs
