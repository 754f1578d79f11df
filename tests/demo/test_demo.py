"""`registry demo` as a new user runs it: two nights against the embedded sandbox.

With `--keep-serving`, as the README suggests for clicking the reports' links: the
sandbox answers (and `registry status` reads the demo's store) until Ctrl-C; the
e-mails the night would send are in `outbox/`; an earlier demo is moved aside, not
deleted.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import requests

from registry.commands.demo import _demo_folder

ROOT = Path(__file__).resolve().parents[2]
SITES = ["bordeaux", "lille", "lyon", "marseille", "paris"]


def _until(proc: subprocess.Popen[str], marker: str) -> str:
    """The demo's stdout up to and including the line holding `marker`."""
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    proc.wait(timeout=60)
    raise AssertionError(f"the demo ended ({proc.returncode}) before {marker!r}:\n"
                         + "".join(seen) + (proc.stderr.read() if proc.stderr else ""))


def test_demo_runs_two_nights_and_says_where_the_outputs_are(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "registry", "demo", "--keep-serving"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        stdout = _until(proc, "Ctrl-C to stop")
        url = re.search(r"keeps serving at (\S+):", stdout).group(1)  # type: ignore[union-attr]
        answer = requests.post(url, data={"token": "0" * 32, "content": "version"}, timeout=30)
        assert answer.status_code in (200, 403)  # it answers: the links lead somewhere
        status = subprocess.run([sys.executable, "-m", "registry", "status", "--settings",
                                 "var/demo/settings.toml"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert status.returncode == 0 and "succeeded" in status.stdout, status.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        # a hang guard, not a timing assert: on a loaded 2-core machine (load >= 10) the
        # demo's orderly stop (the sandbox's threads, the store) has taken over 60 s
        try:
            rest, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "sandbox stopped" in rest and "Traceback" not in err

    out = Path(re.search(r"Outputs of the last night \(succeeded\) are in\s+(\S+)/",
                         stdout).group(1))  # type: ignore[union-attr]
    if not out.is_absolute():
        out = tmp_path / out
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(f"site-{s}.pdf" for s in SITES),
                            *(f"flags-{s}.csv" for s in SITES),
                            *(f"flags-{s}.xlsx" for s in SITES),
                            "jak_cni.pdf", "jak_cni.json", "jak_cni-matched.csv"])
    # night 2 follows a day of data entry: fixed flags resolve, a typo is a new flag
    night2 = stdout[stdout.index("night 2"):]
    found = re.search(r"validate: \d+ open flag\(s\) over 5 site\(s\), (\d+) new, "
                      r"(\d+) resolved", night2)
    assert found and int(found.group(1)) >= 1 and int(found.group(2)) >= 1
    statuses = {row["status"] for s in SITES
                for row in csv.DictReader((out / f"flags-{s}.csv").open(encoding="utf-8-sig"))}
    assert {"new", "open", "resolved"} <= statuses
    study = json.loads((out / "jak_cni.json").read_text())
    assert study["study"] == "jak_cni" and study["analyses"][0]["filter"] == {}
    # paths shown relative to where the user ran the demo, every line within 80 columns
    assert "Open first:" in stdout
    assert f"  {(out / 'jak_cni.pdf').relative_to(tmp_path)}\n" in stdout
    summary = stdout[stdout.index("Outputs of the last night"):]
    assert max(len(line) for line in summary.splitlines()) <= 80, summary
    assert (tmp_path / "var/demo/truth.csv").read_text().startswith(
        "record_id,form,instance,field,error_kind\n")

    # the second night's e-mails: a site whose flags did not change gets none
    outbox = sorted((tmp_path / "var/demo/outbox").glob("*.eml"))
    assert outbox and all(p.suffix == ".eml" for p in outbox)
    for path in outbox:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        files = {p.get_filename() for p in msg.iter_attachments()}  # type: ignore[attr-defined]
        if "-study-" in path.name:
            assert files == {"jak_cni.pdf"} and msg["To"] == "pi@example.org"
        else:
            site = path.stem.split("-", 2)[2]
            assert files == {f"site-{site}.pdf", f"flags-{site}.csv", f"flags-{site}.xlsx"}
            assert msg["To"] == f"coordinator@{site}.example.org"


def test_an_earlier_demo_is_moved_aside_never_deleted(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    first, moved = _demo_folder(Path("var/demo/settings.toml"))
    assert moved is None
    (first / "var" / "reports" / "run-1").mkdir(parents=True)
    (first / "var" / "reports" / "run-1" / "site-paris.pdf").write_bytes(b"%PDF-1.7 first")
    again, moved = _demo_folder(Path("var/demo/settings.toml"))
    assert again == first and moved is not None and moved.parent == first.parent
    assert (moved / "var" / "reports" / "run-1" / "site-paris.pdf").read_bytes() == \
        b"%PDF-1.7 first"
    assert not (again / "var").exists() and (again / ".registry-demo").exists()
    third, moved_again = _demo_folder(Path("var/demo/settings.toml"))
    assert moved_again is not None and moved_again != moved and moved.exists()
