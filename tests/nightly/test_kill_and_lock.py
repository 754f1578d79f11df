"""kill -9 during each stage, then a rerun; two nightlies at once; exit codes 2 and 3.

Each night here is the real CLI in a subprocess (`python -m registry nightly`) against
the module's sandbox, starting from a copy of the module's good night. A kill lands
when the log file shows the stage's start event (for the pull: once the first site's
snapshot is written, pulls slowed by a sandbox latency fault; for the report: once its
temporary folder exists). Afterwards the good night's outputs must be byte-identical,
its snapshots and flags intact, and the next night must mark the killed run
`abandoned`, leave no temporary folder, exit 0, and age the flags against the last
good night (its flags `open`, not `new`).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry.settings import load_settings
from registry.store import Store
from tests.nightly.conftest import env, nightly_cli, tree_bytes, wait_for

SITES = ("lille", "lyon", "paris")


def _store(folder: Path) -> Store:
    return Store.open(load_settings(folder / "settings.toml").store.url)


def _log_since(folder: Path, offset: int) -> str:
    path = folder / "registry.log"
    if not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read().decode("utf-8", "replace")


def _partials(reports: Path) -> list[Path]:
    return [p for p in reports.iterdir() if p.name.startswith(".")]


def _flag_keys(flags) -> dict[tuple, tuple]:
    return {(f["site"], f["record_id"], f["form"], f["instance"], f["field"], f["rule_id"]):
            (f["status"], f["first_seen"]) for f in flags}


@pytest.mark.parametrize("stage", [
    "pull", "validate",
    pytest.param("analyse", marks=pytest.mark.slow),
    "report",
])
def test_kill_9_during_a_stage_leaves_the_last_good_night_and_the_rerun_completes(
        stage, night_dir, night_sandbox, baseline):
    reports = night_dir / "var" / "reports"
    good = tree_bytes(reports / baseline.run_id)
    with _store(night_dir) as store:
        good_snaps = {s: [i.id for i in store.snapshots(s)] for s in SITES}
        good_flags = _flag_keys(store.flags(baseline.run_id))
    offset = (night_dir / "registry.log").stat().st_size
    if stage == "pull":  # slow record exports, so the kill falls between two sites' pulls
        night_sandbox.faults.add("latency", seconds=0.3, count=None, content="record")
    settings = night_dir / "settings.toml"

    proc = nightly_cli(settings)
    try:
        if stage == "pull":
            wait_for(lambda: "event=pull.snapshot" in _log_since(night_dir, offset), 60,
                     "the first site's snapshot", proc)
        else:
            wait_for(lambda: f"event={stage}.start" in _log_since(night_dir, offset), 90,
                     f"the {stage} stage", proc)
        if stage == "report":
            wait_for(lambda: any(p.is_dir() and any(p.iterdir()) for p in _partials(reports)),
                     60, "the report's temporary folder to fill", proc, interval=0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    night_sandbox.faults.clear()

    killed_id = re.search(r"event=run.start run=(\S+)", _log_since(night_dir, offset)).group(1)
    assert tree_bytes(reports / baseline.run_id) == good  # the good night is untouched
    assert not (reports / killed_id).exists()             # and nothing half-made appeared
    with _store(night_dir) as store:
        assert store.run(killed_id).status == "running"
        for site in SITES:  # every good snapshot is still there (a killed pull adds none half)
            ids = [i.id for i in store.snapshots(site)]
            assert ids[-len(good_snaps[site]):] == good_snaps[site]
            for sid in ids:
                assert len(store.snapshot_rows(sid)) > 0
        assert _flag_keys(store.flags(baseline.run_id)) == good_flags

    rerun = nightly_cli(settings)
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err

    rerun_id = re.search(r"(?m)^run (\S+): succeeded", out).group(1)
    assert f"event=run.abandoned run={killed_id}" in err
    assert _partials(reports) == []                       # no temporary folder survives
    assert tree_bytes(reports / baseline.run_id) == good
    assert sorted(p.name for p in reports.iterdir()) == sorted([baseline.run_id, rerun_id])
    with _store(night_dir) as store:
        assert store.run(killed_id).status == "abandoned"
        assert store.run(rerun_id).status == "succeeded"
        flags = _flag_keys(store.flags(rerun_id))
    # the data did not change: every flag of the good night is still open, first seen then
    assert flags.keys() == good_flags.keys()
    assert {status for status, _ in flags.values()} == {"open"}
    assert {k: seen for k, (_, seen) in flags.items()} == \
        {k: seen for k, (_, seen) in good_flags.items()}


def test_two_nightlies_started_together_one_refuses_at_once(night_dir, baseline):
    """Started in the same instant: one takes the lock and completes; the other exits 3
    with one line on stderr as soon as it has started, and leaves no run record."""
    settings = night_dir / "settings.toml"
    started = time.monotonic()
    procs = [nightly_cli(settings), nightly_cli(settings)]
    try:
        refused = wait_for(lambda: next((p for p in procs if p.poll() is not None), None),
                           30, "one of the two nightlies to refuse")
        took = time.monotonic() - started
        out, err = refused.communicate(timeout=10)
        winner = next(p for p in procs if p is not refused)
        w_out, w_err = winner.communicate(timeout=180)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert refused.returncode == 3 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("registry: already running (pid ")
    assert took < 5  # interpreter start-up only: it never waits for the lock
    assert winner.returncode == 0, w_err
    with _store(night_dir) as store:
        runs = store.runs()
    assert [r.status for r in runs] == ["succeeded", "succeeded"]  # baseline + the winner
