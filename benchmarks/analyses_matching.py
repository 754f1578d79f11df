"""Matching planning at registry scale: near-linear `plan_matching` vs the old scan.

    PYTHONPATH=. python benchmarks/analyses_matching.py --patients 11700 23400 46800 --runs 3

Each size: `generate(GeneratorParams(seed=2025, patients=n))` (5 sites, the default
error rate) -> `registry.tidy.tidy` -> `build_cohort` of the JAK-CNI study
(`registries/anti_mda5/studies/jak_cni.toml`). Then,
side by side in one process, `plan_matching` (presence records, `analyses/candidates.py`)
and the scan it replaced (`tests/analyses/reference.py`: one pass over every patient per
exposed patient, as `plan_matching` was until issue #14), min/median of `--runs` runs,
and a check that both give the same candidates in the same order (so the same draws).
Prints markdown rows for benchmarks/RESULTS.md with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial
from typing import Any

import numpy as np

from analyses import parse_study
from analyses.cohort import build_cohort
from analyses.matching import match, plan_matching
from registry.sandbox.generator import REGISTRY_FOLDER, GeneratorParams, generate
from registry.tidy import tidy
from tests.analyses.reference import candidates_by_scan

STUDY = REGISTRY_FOLDER / "studies" / "jak_cni.toml"


def _times(fn: Any, runs: int) -> tuple[float, float, Any]:
    out, got = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        got = fn()
        out.append(time.perf_counter() - t0)
    return min(out), statistics.median(out), got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, nargs="+", default=[11700, 23400, 46800])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    spec = parse_study(STUDY.read_text())
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print("| patients | sets | candidates listed by the scan | scan (before) min / median "
          "| plan_matching (after) min / median | ratio | same candidates | one draw |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.patients:
        reg = generate(GeneratorParams(seed=2025, patients=n))
        fr = tidy(reg.rows_by_site(), reg.schema())
        cohort = build_cohort(spec, fr)
        b_min, b_med, (exposed, cands) = _times(partial(candidates_by_scan, cohort, spec),
                                                args.runs)
        a_min, a_med, plan = _times(partial(plan_matching, cohort, spec), args.runs)
        same = (list(plan.exposed) == exposed and all(
            np.array_equal(plan.index.candidates(j), c) for j, c in enumerate(cands)))
        d_min, _, _ = _times(partial(match, cohort, spec, 1, plan, variables=False),
                             args.runs)
        print(f"| {n:,} | {len(exposed):,} | {sum(len(c) for c in cands):,} | "
              f"{b_min:.3f} / {b_med:.3f} s | {a_min:.3f} / {a_med:.3f} s | "
              f"{b_med / a_med:.1f}x | {same} | {d_min:.3f} s |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
