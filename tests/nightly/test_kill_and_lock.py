"""kill -9 during each stage, then a rerun; two nightlies at once; exit codes 2 and 3.

Each killed night is the real CLI in a subprocess (`python -m registry nightly`) against
the session's sandbox, starting from a copy of the session's good night; the rerun is
`nightly_command` in-process (what the CLI calls; it saves a subprocess's imports). A
kill lands when the log file shows the stage's start event (for the pull: once the first site's
snapshot is written, pulls slowed by a sandbox latency fault; for the report: once its
temporary folder exists). Afterwards the good night's outputs must be byte-identical,
its snapshots and flags intact, and the next night must mark the killed run
`abandoned`, leave no temporary folder, exit 0, and age the flags against the last
good night (its flags `open`, not `new`). What is checked is the store, the runs'
records and the output folders, not the study: those nights run without it
(`without_study`; the report stage is then the site reports and spreadsheets, seconds
of layout still), but the kill in the analyse stage (slow), which needs a study.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from registry.commands.nightly import nightly_command
from registry.commands.status import show_status
from registry.run import latest_run_id, run_nightly
from registry.settings import load_settings
from registry.store import Store
from tests.cli_main import run_cli
from tests.nightly.conftest import (
    env,
    nightly_cli,
    tree_bytes,
    wait_for,
    without_study,
    write_settings,
)

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
    "pull",
    "validate",
    pytest.param("analyse", marks=pytest.mark.slow),
    "report",
])
def test_kill_9_during_a_stage_leaves_the_last_good_night_and_the_rerun_completes(
        stage, night_dir, night_sandbox, baseline, capsys):
    reports = night_dir / "var" / "reports"
    good = tree_bytes(reports / baseline.run_id)
    with _store(night_dir) as store:
        good_snaps = {s: [i.id for i in store.snapshots(s)] for s in SITES}
        good_flags = _flag_keys(store.flags(baseline.run_id))
    offset = (night_dir / "registry.log").stat().st_size
    if stage != "analyse":
        without_study(night_dir)
    if stage == "pull":  # slow record exports, so the kill falls between two sites' pulls
        night_sandbox.faults.add("latency", seconds=0.2, count=None, content="record")
    settings = night_dir / "settings.toml"

    proc = nightly_cli(settings)
    try:
        if stage == "pull":
            wait_for(lambda: "event=pull.snapshot" in _log_since(night_dir, offset), 60,
                     "the first site's snapshot", proc)
        else:
            wait_for(lambda: f"event={stage}.start" in _log_since(night_dir, offset), 240,
                     f"the {stage} stage", proc)
        if stage == "report":
            wait_for(lambda: any(p.is_dir() and any(p.iterdir()) for p in _partials(reports)),
                     60, "the report's temporary folder to fill", proc, interval=0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    night_sandbox.faults.clear()

    killed_log = _log_since(night_dir, offset)
    killed_id = re.search(r"event=run.start run=(\S+)", killed_log).group(1)
    after = {"pull": "validate.start", "validate": "analyse.start",
             "analyse": "report.start", "report": "report.done"}[stage]
    assert f"event={after}" not in killed_log  # the kill fell inside the stage
    assert tree_bytes(reports / baseline.run_id) == good  # the good night is untouched
    assert not (reports / killed_id).exists()             # and nothing half-made appeared
    with _store(night_dir) as store:
        assert store.run(killed_id).status == "running"
        assert latest_run_id(store) == baseline.run_id  # what `registry report` rebuilds
        for site in SITES:  # every good snapshot is still there (a killed pull adds none half)
            ids = [i.id for i in store.snapshots(site)]
            assert ids[-len(good_snaps[site]):] == good_snaps[site]
            for sid in ids:
                assert len(store.snapshot_rows(sid)) > 0
        assert _flag_keys(store.flags(baseline.run_id)) == good_flags

    code = nightly_command(settings)
    out, err = capsys.readouterr()
    assert code == 0, err

    rerun_id = re.search(r"(?m)^run (\S+): succeeded", out).group(1)
    assert f"event=run.abandoned run={killed_id}" in _log_since(night_dir, offset)
    assert "event=" not in err  # log lines go to the log file, not stderr
    assert _partials(reports) == []                       # no temporary folder survives
    assert tree_bytes(reports / baseline.run_id) == good
    assert sorted(p.name for p in reports.iterdir()) == sorted([baseline.run_id, rerun_id])
    with _store(night_dir) as store:
        assert store.run(killed_id).status == "abandoned"
        assert store.run(rerun_id).status == "succeeded"
        flags = _flag_keys(store.flags(rerun_id))
    console = Console(record=True, width=200)
    show_status(load_settings(settings), console=console)
    shown = console.export_text()
    assert re.search(rf"{killed_id}\s+nightly\s+abandoned", shown)
    assert re.search(rf"{rerun_id}\s+nightly\s+succeeded", shown)
    # the data did not change: every flag of the good night is still open, first seen then
    assert flags.keys() == good_flags.keys()
    assert {status for status, _ in flags.values()} == {"open"}
    assert {k: seen for k, (_, seen) in flags.items()} == \
        {k: seen for k, (_, seen) in good_flags.items()}


def test_a_second_nightly_started_meanwhile_refuses_at_once(night_dir, night_sandbox, baseline):
    """One night holds the lock (in a thread here); `registry nightly` started meanwhile
    exits 3 with one line on stderr, and leaves no run record; the first night completes.

    The first night is held at the start of its validate stage until the second has
    exited: had the second waited for the lock, it could never have exited (its
    subprocess timeout would fail the test instead). The night has no study: the claim
    is about the lock."""
    without_study(night_dir)
    settings = night_dir / "settings.toml"
    loaded = load_settings(settings)
    second_done = threading.Event()

    def hold(stage: str) -> None:
        if stage == "validate":
            second_done.wait(timeout=150)

    results: list = []
    first = threading.Thread(target=lambda: results.append(run_nightly(loaded, on_stage=hold)))
    first.start()
    try:
        wait_for(lambda: loaded.lock_file.exists() and
                 loaded.lock_file.read_text().startswith("pid "), 30,
                 "the first night to take the lock")
        second = _cli(settings)
        held = first.is_alive()  # the first night still holds the lock
    finally:
        second_done.set()
        first.join(timeout=180)
    assert second.returncode == 3 and second.stdout == ""
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"registry: already running (pid {os.getpid()}")
    assert held  # it refused at once, it did not wait for the lock
    assert len(results) == 1 and results[0].exit_code == 0
    with _store(night_dir) as store:
        runs = store.runs()
    assert [r.id for r in runs] == [results[0].run_id, baseline.run_id]  # none for the refused


@pytest.mark.slow
def test_two_nightlies_started_in_the_same_instant_one_refuses(night_dir, night_sandbox,
                                                               baseline):
    """Two CLI processes started together: one takes the lock and completes; the other
    exits 3 with one line on stderr while the first is still pulling (slowed by a
    latency fault), and leaves no run record."""
    settings = night_dir / "settings.toml"
    night_sandbox.faults.add("latency", seconds=0.5, count=None, content="record")
    procs = [nightly_cli(settings), nightly_cli(settings)]
    try:
        refused = wait_for(lambda: next((p for p in procs if p.poll() is not None), None),
                           60, "one of the two nightlies to refuse")
        winner = next(p for p in procs if p is not refused)
        held = winner.poll() is None  # refused while the winner still runs: it never waited
        night_sandbox.faults.clear()
        out, err = refused.communicate(timeout=10)
        w_out, w_err = winner.communicate(timeout=180)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert refused.returncode == 3 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("registry: already running (pid ")
    assert held
    assert winner.returncode == 0, w_err
    with _store(night_dir) as store:
        assert [r.status for r in store.runs()] == ["succeeded", "succeeded"]


def _cli(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "registry", "nightly", "--settings",
                           str(settings), *args], env=env(), capture_output=True, text=True,
                          timeout=120, cwd=settings.parent)


def test_bad_settings_exit_2_with_one_line(night_sandbox, tmp_path):
    settings = write_settings(night_sandbox, tmp_path)
    settings.write_text(settings.read_text() + "\n[run]\nlock_file = 5\n")
    done = _cli(settings)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"registry: {settings}: run.lock_file should be a str, got int 5"]
    assert not (tmp_path / "var").exists()  # nothing was started


def test_every_site_unreachable_and_no_earlier_snapshot_exits_3_with_one_line(
        night_sandbox, tmp_path, capsys):
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings = write_settings(night_sandbox, tmp_path)
    settings.write_text(settings.read_text().replace(f":{night_sandbox.port}/", f":{closed}/"))
    # in-process: the claim is the exit code and the line
    code, out, err = run_cli(capsys, "nightly", "--settings", str(settings))
    assert code == 3 and out == ""
    mine = [ln for ln in err.splitlines() if ln.startswith("registry: ")]
    assert len(mine) == 1
    assert mine[0].startswith("registry: no site could be pulled and none has an earlier "
                              "snapshot: site 'paris': ")
    assert all(f"site '{s}'" in mine[0] for s in SITES)
    with _store(tmp_path) as store:
        run = store.runs()[0]
    assert (run.status, run.exit_code) == ("failed", 3)
    assert [(st.stage, st.site, st.status) for st in run.stages] == \
        [("pull", s, "failed") for s in ("paris", "lyon", "lille")] + [("pull", None, "failed")]
    assert not (tmp_path / "var" / "reports").exists() or \
        list((tmp_path / "var" / "reports").iterdir()) == []


def test_an_unexpected_error_fails_the_run_with_exit_3_and_keeps_the_good_night(
        night_dir, baseline, capsys, monkeypatch):
    """A bug in a stage (cannot be produced for real: a stand-in raises) is exit 3 with
    one line on stderr, not Python's 1 (which means "partial"); the run and the stage
    are recorded as failed, the traceback is in the log, the good night is untouched."""
    import registry.quality.stage

    good = tree_bytes(night_dir / "var" / "reports")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the quality stage")
    monkeypatch.setattr(registry.quality.stage, "validate_snapshots", broken)

    code = nightly_command(night_dir / "settings.toml")
    out, err = capsys.readouterr()

    assert code == 3
    mine = [ln for ln in err.splitlines() if ln.startswith("registry nightly: ")]
    assert mine == ["registry nightly: the run failed on an unexpected error (RuntimeError: a "
                    "bug in the quality stage); its traceback is in the log, "
                    f"{night_dir / 'registry.log'}"]
    assert "Traceback" in (night_dir / "registry.log").read_text()
    with _store(night_dir) as store:
        run = store.runs()[0]
        assert latest_run_id(store) == baseline.run_id
    assert (run.status, run.exit_code) == ("failed", 3)
    validate = next(st for st in run.stages if st.stage == "validate")
    assert (validate.status, validate.message) == ("failed",
                                                   "RuntimeError: a bug in the quality stage")
    assert tree_bytes(night_dir / "var" / "reports") == good


@pytest.mark.parametrize("command", ["pull", "validate", "analyse", "report"])
def test_every_command_that_writes_waits_its_turn(command, night_dir, baseline, capsys):
    """They write snapshots, runs or output folders as well: started while a nightly
    holds the lock they refuse (the nightly would otherwise mark their run abandoned and
    sweep their output folder; two reports would delete each other's temporary one).

    The command runs in-process (`registry.cli.main`): `flock` locks an open file, so
    the lock held here on one descriptor refuses the command's own, as another
    process's would (the nightly started meanwhile above is a real second process)."""
    from registry.lock import run_lock

    settings = night_dir / "settings.toml"
    with run_lock(load_settings(settings).lock_file):
        code, out, err = run_cli(capsys, command, "--settings", str(settings))
    assert code == 3 and out == ""
    assert err.strip().splitlines()[-1].startswith("registry: already running")
    with _store(night_dir) as store:
        assert [r.id for r in store.runs()] == [baseline.run_id]
        assert [len(store.snapshots(s)) for s in SITES] == [1, 1, 1]
    assert [p.name for p in (night_dir / "var" / "reports").iterdir()] == [baseline.run_id]
