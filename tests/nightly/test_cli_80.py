"""`registry flags` and `registry status` read at 80 columns, as a new user sees them.

The CLI with COLUMNS=80 and its output piped (in-process, `registry.cli.main`: the
console takes its width from COLUMNS as in a subprocess), on a copy of the session's
good night (with a failed pull added to its record, as a night with an unreachable
site leaves it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry.settings import load_settings
from registry.store import Store
from tests.cli_main import CliRun, run_cli

SITES = ("lille", "lyon", "paris")


@pytest.fixture
def cli(capsys, monkeypatch):
    """`registry ARGS --settings FOLDER/settings.toml` at COLUMNS=80: (code, out, err)."""
    monkeypatch.setenv("COLUMNS", "80")

    def run(folder: Path, *args: str) -> CliRun:
        return run_cli(capsys, *args, "--settings", str(folder / "settings.toml"))
    return run


def test_flags_at_80_columns_one_block_per_flag_with_its_whole_link(night_dir, baseline, cli):
    with Store.open(load_settings(night_dir / "settings.toml").store.url) as store:
        flags = [f for f in store.flags(baseline.run_id) if f["site"] in ("lille", "paris")]
    assert flags
    done = cli(night_dir, "flags", "--site", "lille", "--site", "paris")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{len(flags)} flag(s): ")
    links = [ln.strip() for ln in lines if ln.strip().startswith("http")]
    assert sorted(links) == sorted(f["link"] for f in flags)  # every link whole, one line
    assert all(len(ln) <= 80 for ln in lines if not ln.strip().startswith("http")), \
        max(lines, key=len)
    heads = [ln for ln in lines if ln and not ln.startswith(" ") and "record " in ln]
    assert len(heads) == len(flags)
    assert {h.split()[0] for h in heads} == {"lille", "paris"}  # both --site values kept
    shown = " ".join(done.stdout.split())
    assert all(" ".join(f["message"].split()) in shown for f in flags)
    # inside a block every line, wrapped ones too, sits under the indent
    body = [ln for ln in lines[1:] if ln and ln not in heads]
    assert all(ln.startswith("  ") for ln in body), [ln for ln in body if ln[:2] != "  "][:3]
    assert all(ln == ln.rstrip() for ln in lines)  # no padding to the terminal's width
    # the field's label and the rule's suggestion reach the terminal
    details = [f.get("details") or {} for f in flags]
    assert any(d.get("label") and f"{d['label']} (" in shown for d in details)
    hints = [d["suggestion"] for d in details if d.get("suggestion")
             and not d.get("computed_from")]  # a calculated field names its inputs instead
    assert hints and all(f"-> {' '.join(h.split())}" in shown for h in hints)
    calc = [d["computed_from"] for d in details if d.get("computed_from")]
    assert all(f"-> calculated by REDCap: check {', '.join(c.split())}" in shown
               for c in calc)


def test_status_at_80_columns_cuts_no_word_and_drops_no_column(night_dir, baseline, cli):
    reason = ("site 'lille': REDCap at http://127.0.0.1:9/api/ could not be reached "
              "(connection refused); check that REDCap is up and the URL is right")
    with Store.open(load_settings(night_dir / "settings.toml").store.url) as store:
        run = store.start_run("nightly")
        for site in SITES:
            store.stage(run, "pull", site, "failed" if site == "lille" else "succeeded",
                        message=reason if site == "lille" else None)
        store.finish_run(run, "partial", 1, reason)
    done = cli(night_dir, "status")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert all(len(ln) <= 80 for ln in lines), max(lines, key=len)
    words = set(done.stdout.split())
    headers = {"site", "pull", "pulled", "at", "records", "+", "~", "-", "snap", "last",
               "run", "kind", "outcome", "exit", "took", "snapshots,", "message", "stage",
               "detail"}
    assert headers <= words
    assert {"succeeded", "partial", "failed"} <= words
    assert not [w for w in words if w.startswith("succee") and w != "succeeded"]
    tokens = set(re.findall(r"[\w'/.:-]+", done.stdout))
    assert set(re.findall(r"[\w'/.:-]+", reason)) <= tokens  # wrapped, never cut
    assert baseline.run_id in words and run in words
