"""`registry status` prints per site the last pull and per run its outcome."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from registry.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(f"""
[store]
url = "{store_url}"
[[sites]]
name = "paris"
url = "http://127.0.0.1:9/api/"
token_env = "REGISTRY_TOKEN_PARIS"
[[sites]]
name = "lyon"
url = "http://127.0.0.1:9/api/"
token_env = "REGISTRY_TOKEN_LYON"
""", encoding="utf-8")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    env.pop("REGISTRY_TOKEN_PARIS", None)
    return subprocess.run([sys.executable, "-m", "registry", *args], env=env, text=True,
                          capture_output=True, timeout=60)


def test_status_command(tmp_path: Path, store_url: str, make_records, make_record) -> None:
    with Store.open(store_url) as store:
        store.write_snapshot("paris", make_records(12),
                             created_at=datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
        changed = {"3": make_record("3", version=4), "13": make_record("13")}
        snap = store.write_incremental("paris", 1, changed, ["5"],
                                       created_at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
        run_id = store.start_run("nightly", started_at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
        store.stage(run_id, "pull", "paris", "ok")
        store.stage(run_id, "pull", "lyon", "failed", message="REDCap unreachable")
        store.use_snapshot(run_id, "paris", snap.id, fresh=True)
        store.finish_run(run_id, "partial", 3)
    done = _run("status", "--settings", str(_settings(tmp_path, store_url)))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    paris = next(line for line in out.splitlines() if "paris" in line and "incremental" in line)
    cells = re.split(r"\s{2,}", paris.strip())[:6]
    assert cells == ["paris", "incremental", "2026-11-25 02:00", "12", "+1 ~1 -1",
                     str(snap.id)]
    lyon = next(line for line in out.splitlines() if "lyon" in line and "never" in line)
    assert "failed (REDCap unreachable)" in lyon
    run = next(line for line in out.splitlines() if line.startswith(run_id))
    cells = re.split(r"\s{2,}", run.strip())
    assert cells[:4] == [run_id, "nightly", "partial", "3"]
    assert cells[5] == "1 fresh; failed: pull:lyon"
    assert "REGISTRY_TOKEN" not in out


def test_status_with_bad_settings_is_one_line(tmp_path: Path) -> None:
    done = _run("status", "--settings", str(tmp_path / "missing.toml"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "not found" in done.stderr
