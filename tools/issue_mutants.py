"""The plausible bugs of issue #16, each applied alone to a scratch copy, with its guard.

Each bug is a one-place edit of production code (the definitions, the gate, the
token's redaction, the atomic output folder, the lifelines fast path) and names the
fast test that must fail on it. The edit is made in a temporary copy of the project
(the work tree is never touched), the test is run there with `-x`, and the script
exits non-zero if any bug survives. `make mutate` runs it before mutmut.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("analyses", "registry", "tests", "registries", "docs", "settings.toml",
          "pyproject.toml")


@dataclass(frozen=True)
class Bug:
    what: str
    path: str
    old: str
    new: str
    test: str


BUGS = (
    Bug("index day = the latest overlap instead of the first", "analyses/exposure.py",
        '.groupby("patient_id")["s"].min()', '.groupby("patient_id")["s"].max()',
        "tests/analyses/test_definitions.py"),
    Bug("event = the last of death and transplant", "analyses/cohort.py",
        "axis=1).min(axis=1)", "axis=1).max(axis=1)", "tests/analyses/test_definitions.py"),
    Bug("an event at the horizon not counted (single draw)", "analyses/matching.py",
        "(p.event[members] & (dt <= horizon))", "(p.event[members] & (dt < horizon))",
        "tests/analyses/test_definitions.py"),
    Bug("an event at the horizon not counted (headline draws)", "analyses/draws.py",
        "(plan.event[members] & (dt <= horizon))", "(plan.event[members] & (dt < horizon))",
        "tests/analyses/test_definitions.py"),
    Bug("an event a day past the horizon counted", "analyses/matching.py",
        '"time": np.minimum(dt, horizon),', '"time": dt,',
        "tests/analyses/test_definitions.py"),
    Bug("gating also excludes resolved flags", "registry/quality/flags.py",
        'f.get("status", "new") in OPEN_STATUSES', "True", "tests/quality/test_gate.py"),
    Bug("the pull client never registers its token", "registry/redcap/client.py",
        "        register_secret(token)\n", "", "tests/redcap/test_token_redaction.py"),
    Bug("outputs written in place, not through a temporary folder", "registry/outputs.py",
        "    with atomic_dir(final) as tmp, batch:",
        "    final.mkdir(parents=True, exist_ok=True)\n"
        "    with contextlib.nullcontext(final) as tmp, batch:",
        "tests/test_outputs_atomic.py"),
    Bug("the lifelines fast path disabled", "analyses/survival.py",
        '        beta, se = fit_stratified(data, "time", "event", "set_id", _TIGHT)',
        "        from lifelines import CoxPHFitter\n"
        '        m = CoxPHFitter().fit(data, "time", "event", strata=["set_id"],\n'
        "                              fit_options=_TIGHT)\n"
        "        beta, se = float(m.params_.iloc[0]), float(m.standard_errors_.iloc[0])",
        "tests/analyses/test_fast_path.py"),
    Bug("a date equal to today flagged as in the future", "registry/quality/derived.py",
        "lo, hi = bounds(meta, today=today, now=now)",
        "lo, hi = bounds(meta, today=today - dt.timedelta(days=1), now=now)",
        "tests/quality/test_derived_rules.py"),
)


def _apply(copy: Path, bug: Bug) -> None:
    path = copy / bug.path
    text = path.read_text()
    if text.count(bug.old) != 1:
        sys.exit(f"{bug.path}: the code of bug '{bug.what}' is no longer there once: "
                 "update tools/issue_mutants.py")
    new = bug.new
    if "contextlib." in new and "import contextlib" not in text:
        text = "import contextlib\n" + text if text.startswith("import") else \
            text.replace("\nimport ", "\nimport contextlib\nimport ", 1)
    path.write_text(text.replace(bug.old, new))


def main() -> int:
    env = {**os.environ, "CI": "true"}
    survived = []
    for bug in BUGS:
        with tempfile.TemporaryDirectory(prefix="issue-mutant-") as tmp:
            copy = Path(tmp)
            for name in COPIED:
                src = ROOT / name
                if src.is_dir():
                    shutil.copytree(src, copy / name, ignore=shutil.ignore_patterns(
                        "__pycache__", ".hypothesis"))
                else:
                    shutil.copy2(src, copy / name)
            _apply(copy, bug)
            run = subprocess.run([sys.executable, "-m", "pytest", bug.test, "-x", "-q",
                                  "-p", "no:cacheprovider", "-p", "no:xdist"], cwd=copy,
                                 env={**env, "PYTHONPATH": str(copy)}, capture_output=True,
                                 text=True, check=False)
        ok = run.returncode == 1
        if not ok:
            survived.append(bug.what)
        print(f"{'killed  ' if ok else 'SURVIVED'} {bug.what}  ({bug.test}, exit "
              f"{run.returncode})", flush=True)
    print(f"{len(BUGS) - len(survived)} / {len(BUGS)} of issue #16's bugs killed")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
