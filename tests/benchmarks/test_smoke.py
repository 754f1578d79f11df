"""Every benchmark script runs at a tiny size and prints its figures.

A benchmark nobody can run is a figure nobody can check: each script is started as
`make bench` starts it (its own process, this checkout first on the path) on a registry
of a few dozen patients, and must exit 0 with its figures on stdout. The nightly's
benchmark must also find night 2 really incremental.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT_DIR = REPO / "benchmarks"

SCRIPTS = {
    "pull_scale.py": ["--patients", "40", "--sites", "2", "--json"],
    "sandbox_export.py": ["--patients", "30", "--batch", "10", "--in-process"],
    "store_growth.py": ["--big", "30", "--patients", "20", "--nights", "2"],
    "quality_speed.py": ["30", "--repeats", "1"],
    "quality_wide.py": ["--repeats", "1", "--shapes", "40x60", "--forms", "2"],
    "analyses_speed.py": ["--patients", "80", "--repeats", "2", "--pp-bootstrap", "2"],
    "analyses_matching.py": ["--patients", "200", "--runs", "1"],
    "analyses_sim.py": ["seedspread", "--patients", "80", "--seeds", "3"],
    "analyses_headline_sim.py": ["coverage", "--patients", "150", "--reps", "2", "--workers", "1",
                                 "--min-draws", "2", "--max-draws", "3"],
    "cli_startup.py": ["--runs", "1", "--no-warm"],
    "analyses_entry_sim.py": ["--patients", "150", "--reps", "1", "--draws", "3"],
    "analyses_fullcohort_sim.py": ["--patients", "300", "--reps", "2"],
    "analyses_pp_sim.py": ["--patients", "150", "--reps", "2", "--draws", "3"],
    "analyses_ph_sim.py": ["--patients", "150", "--reps", "2", "--draws", "3"],
    "analyses_ppboot_speed.py": ["--patients", "150", "--boot", "2", "--runs", "1"],
    "frame_cache.py": ["--patients", "40", "--sites", "2", "--runs", "1"],
    "site_pdf_pages.py": ["--patients", "40", "--site", "paris"],
}
#: bench.py's nights at 0.1x, kept for report_stage.py (its setup is the same two nights,
#: `nightly_scale.run`): one pair of nights for both scripts
BENCH = ["--scales", "0.1", "--sites", "2", "--no-write", "--seed-repeats", "2",
         "--pp-bootstrap", "2"]
REPORT_STAGE = ["--scale", "0.1", "--sites", "2", "--repeats", "1", "--json"]


def test_every_benchmark_script_has_a_smoke_run():
    scripts = {p.name for p in SCRIPT_DIR.glob("*.py")} - {"sandbox_process.py",
                                                           "nightly_scale.py"}
    # nightly_scale.py runs under bench.py, report_stage.py on bench.py's nights
    assert scripts == {*SCRIPTS, "bench.py", "report_stage.py"}


def _script(name: str, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(SCRIPT_DIR / name), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.strip()
    return proc.stdout


def test_bench_then_the_report_stage_of_its_night_2(tmp_path):
    out = _script("bench.py", *BENCH, "--keep-state", str(tmp_path))
    rows = [ln for ln in out.splitlines() if ln.startswith("| ")]
    assert len(rows) == 2 and "night 1 first (full)" in rows[0]
    assert "night 2 incremental" in rows[1]
    state = tmp_path / "0.1x"
    assert (state / "night2.run").read_text() != (state / "night1.run").read_text()
    out = _script("report_stage.py", *REPORT_STAGE, "--state", str(state))
    figures = json.loads(next(ln for ln in out.splitlines() if ln.startswith("BENCH "))[6:])
    assert figures["pdfs"] == 3 and figures["cpu_min"] > 0  # both sites' PDFs, the study's


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_benchmark_runs_at_a_tiny_size(script):
    out = _script(script, *SCRIPTS[script])
    if script == "pull_scale.py":
        figures = json.loads(next(ln for ln in out.splitlines()
                                  if ln.startswith("BENCH "))[6:])
        assert figures["incremental_fetched"] < figures["full_fetched"]
