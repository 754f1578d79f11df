"""`make bench`: the whole-run benchmarks at 1x, 10x and 100x (1000x with --with-1000).

Each benchmark runs in a process of its own (`nice`d), so its CPU seconds and peak
memory are its own; their figures are appended to benchmarks/RESULTS.md as rows of the
"make bench" table: the date, the machine's load average, the figure, its target and
the ratio (figure / target: below 1 meets it). The machine is shared: the wall
figures are upper bounds at the load shown, and CPU seconds are the steadier measure.

    .venv/bin/python benchmarks/bench.py [--scales 1 10 100] [--with-1000] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
TABLE_HEAD = "## make bench"

#: target name -> (seconds, what it is)
TARGETS = {
    "night1_100x": (60.0, "first night, 100x, 10 sites: wall s"),
    "night2_100x": (25.0, "incremental night, 100x, 10 sites, 1 % churn: wall s"),
    "night_1000x": (600.0, "a night at 1000x, 20 sites: wall s"),
    "rss_1000x": (4096.0, "peak RSS at 1000x: MiB"),
    "pull_ratio": (0.05, "incremental / full pull time at the default pace"),
    "pull_requests_ratio": (0.05, "incremental / full pull requests"),
}


def _run(script: str, *args: str) -> list[dict[str, Any]]:
    cmd = ["nice", "-n", "10", sys.executable, str(HERE / script), *args, "--json"]
    print("$ " + " ".join(cmd[3:]), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    sys.stdout.write("".join(f"  {line}\n" for line in proc.stdout.splitlines()
                             if not line.startswith("BENCH ")))
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"{script} failed ({proc.returncode})")
    return [json.loads(line[6:]) for line in proc.stdout.splitlines()
            if line.startswith("BENCH ")]


def _row(date: str, what: str, figure: float, unit: str, load: float, cpu: float | None = None,
         target: str | None = None, note: str = "") -> str:
    ratio = ""
    if target is not None:
        ratio = f"{figure / TARGETS[target][0]:.2f}"
    goal = f"{TARGETS[target][0]:g}" if target else ""
    cpu_text = f"{cpu:.1f}" if cpu is not None else ""
    return (f"| {date} | {load:.1f} | {what} | {figure:g} {unit} | {cpu_text} | {goal} | "
            f"{ratio} | {note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100])
    parser.add_argument("--with-1000", action="store_true", help="also 1000x over 20 sites")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    parser.add_argument("--sites", type=int, default=None,
                        help="sites (default: 10, and 20 at 1000x)")
    parser.add_argument("--seed-repeats", default=None,
                        help="re-drawn matchings per night (default: the study's)")
    parser.add_argument("--pp-bootstrap", default=None,
                        help="per-protocol bootstrap replicates (default: the study's)")
    parser.add_argument("--keep-state", type=Path, default=None, metavar="DIR",
                        help="keep each scale's two nights in DIR/<scale>x (settings, store, "
                             "reports): report_stage.py --state DIR/<scale>x then times that "
                             "night 2's report stage")
    args = parser.parse_args()
    scales = list(args.scales) + ([1000.0] if args.with_1000 else [])
    date = dt.date.today().isoformat()
    rows: list[str] = []
    extra = ["--seed-repeats", args.seed_repeats] if args.seed_repeats else []
    if args.pp_bootstrap is not None:
        extra += ["--pp-bootstrap", args.pp_bootstrap]
    for scale in scales:
        sites = str(args.sites or (20 if scale >= 1000 else 10))
        keep = (["--state", str(args.keep_state.resolve() / f"{scale:g}x")]
                if args.keep_state else [])
        nights = _run("nightly_scale.py", "--scale", f"{scale:g}", "--sites", sites, *extra,
                      *keep)
        for n in nights:
            stages = ", ".join(f"{k} {v:g}" for k, v in n["stages"].items())
            target = None
            if scale == 100:
                target = "night1_100x" if n["night"] == 1 else "night2_100x"
            elif scale >= 1000:
                target = "night_1000x"
            kind = "first (full)" if n["night"] == 1 else (
                "incremental" if n.get("incremental") else "NOT incremental")
            rows.append(_row(date, f"nightly {scale:g}x ({n['patients']} patients, "
                                   f"{n['sites']} sites), night {n['night']} {kind}",
                             n["wall_s"], "s", n["load"][0], n["cpu_s"], target,
                             f"{stages}; fetched {n['fetched']} in {n['requests']} requests; "
                             f"peak RSS {n['peak_rss_mib']} MiB"))
            if scale >= 1000:
                rows.append(_row(date, f"peak RSS {scale:g}x, night {n['night']}",
                                 n["peak_rss_mib"], "MiB", n["load"][0], None, "rss_1000x"))
    if 100 in scales:
        pull = _run("pull_scale.py", "--patients", "23400", "--sites", "10", "--rpm", "300")[0]
        load = pull["load"][0]
        rows.append(_row(date, "pull 100x, 10 sites, 300/min: incremental / full time",
                         round(pull["incremental_seconds"] / pull["full_seconds"], 4), "",
                         load, None, "pull_ratio",
                         f"full {pull['full_seconds']} s, incremental "
                         f"{pull['incremental_seconds']} s"))
        rows.append(_row(date, "pull 100x: incremental / full requests",
                         round(pull["incremental_requests"] / pull["full_requests"], 4), "",
                         load, None, "pull_requests_ratio",
                         f"full {pull['full_requests']}, incremental "
                         f"{pull['incremental_requests']} requests"))
    text = "\n".join(rows)
    print(text)
    if not args.no_write:
        _append(text)
        print(f"appended {len(rows)} rows to {RESULTS}")


_COLUMNS = ("| date | load | what | figure | CPU s | target | ratio | detail |\n"
            "|---|---|---|---|---|---|---|---|\n")


def _append(rows: str) -> None:
    """Rows at the end of RESULTS.md: under the make-bench head the first time, and under
    a new column header whenever prose was written after the last table."""
    head = (f"\n{TABLE_HEAD}\n\nRows appended by `make bench` (benchmarks/bench.py). Load = the "
            "1-minute load average when the figure's run began (2 cores, shared). Ratio = "
            "figure / target (below 1 meets it); CPU = this process and its render workers.\n\n"
            + _COLUMNS)
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if TABLE_HEAD not in text:
        text = text.rstrip("\n") + "\n" + head
    elif not text.rstrip("\n").splitlines()[-1].startswith("|"):
        text = text.rstrip("\n") + "\n\n`make bench` rows, continued:\n\n" + _COLUMNS
    RESULTS.write_text(text.rstrip("\n") + "\n" + rows + "\n", encoding="utf-8")
    os.utime(RESULTS)


if __name__ == "__main__":
    main()
