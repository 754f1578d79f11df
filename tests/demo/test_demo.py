"""`registry demo` as a new user runs it: two nights against the embedded sandbox."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_two_nights_and_says_where_the_outputs_are(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "registry", "demo"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = Path(re.search(r"Outputs of the last night \(succeeded\) are in (\S+)/",
                         done.stdout).group(1))
    names = sorted(p.name for p in out.iterdir())
    sites = ["bordeaux", "lille", "lyon", "marseille", "paris"]
    assert names == sorted([*(f"site-{s}.pdf" for s in sites),
                            *(f"flags-{s}.csv" for s in sites),
                            *(f"flags-{s}.xlsx" for s in sites),
                            "jak_cni.pdf", "jak_cni.json", "jak_cni-matched.csv"])
    # night 2 follows a day of data entry: fixed flags resolve, a typo is a new flag
    night2 = done.stdout[done.stdout.index("night 2"):]
    found = re.search(r"validate: \d+ open flag\(s\) over 5 site\(s\), (\d+) new, "
                      r"(\d+) resolved", night2)
    assert found and int(found.group(1)) >= 1 and int(found.group(2)) >= 1
    statuses = {row["status"] for s in sites
                for row in csv.DictReader((out / f"flags-{s}.csv").open(encoding="utf-8-sig"))}
    assert {"new", "open", "resolved"} <= statuses
    study = json.loads((out / "jak_cni.json").read_text())
    assert study["study"] == "jak_cni" and study["analyses"][0]["filter"] == {}
    assert "Open first:" in done.stdout and str(out / "jak_cni.pdf") in done.stdout
    assert (tmp_path / "var/demo/truth.csv").read_text().startswith(
        "record_id,form,instance,field,error_kind\n")
