"""The run lock and atomic outputs, with real processes and a real kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from registry.atomic import atomic_dir, atomic_write_bytes, atomic_write_text
from registry.errors import RunLocked
from registry.lock import run_lock

HOLD = """
import sys, time
from pathlib import Path
from registry.lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(lock: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_holder_is_refused_then_lock_survives_kill_9(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    proc = _holder(lock)
    try:
        with pytest.raises(RunLocked, match=rf"already running \(pid {proc.pid} since"), \
                run_lock(lock):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with run_lock(lock):  # the kernel released the dead holder's lock
        pass


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    final = tmp_path / "reports" / "run-1"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("first")
    assert (final / "a.txt").read_text() == "first"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("killed mid-way")
    assert (final / "a.txt").read_text() == "first"
    assert [p.name for p in final.parent.iterdir()] == ["run-1"]


def test_atomic_dir_cleans_leftovers_of_a_killed_run(tmp_path: Path) -> None:
    final = tmp_path / "run-2"
    leftover = tmp_path / ".run-2.abc.partial"
    leftover.mkdir()
    with atomic_dir(final) as tmp:
        (tmp / "x").write_text("x")
    assert not leftover.exists() and (final / "x").exists()


def test_atomic_write_text_keeps_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "flags.csv"
    atomic_write_text(path, "old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, None)  # type: ignore[arg-type]  # fails mid-write
    assert path.read_text() == "old"
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["flags.csv"]
