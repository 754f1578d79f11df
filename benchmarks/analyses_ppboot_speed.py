"""CPU and wall time of the per-protocol bootstrap (`analyses.ppboot.pp_bootstrap`).

    PYTHONPATH=. python benchmarks/analyses_ppboot_speed.py --patients 234 2340 23400 \
        --boot 20 --runs 3

Each size: `generate(GeneratorParams(seed=2025, patients=n))` (5 sites, error rate 0)
-> `registry.tidy.tidy` -> the JAK-CNI study's cohort and plan, 50 re-drawn matchings
and the per-protocol fit on them (not timed); then `pp_bootstrap` with --boot
replicates, --runs times. Prints min/median CPU and wall per run and per replicate,
and the load average, as a markdown table for benchmarks/RESULTS.md; the cost of B
replicates is B times the per-replicate figure (each replicate is one resample, one
matching plan, one draw, one weight model and one weighted Cox fit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from analyses import parse_study
from analyses.cohort import build_cohort
from analyses.headline import Draws
from analyses.matching import plan_matching
from analyses.perprotocol import per_protocol
from analyses.ppboot import pp_bootstrap
from registry.sandbox.generator import REGISTRY_FOLDER, GeneratorParams, generate
from registry.tidy import tidy

STUDY = parse_study((REGISTRY_FOLDER / "studies" / "jak_cni.toml").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, nargs="+", default=[234, 2340, 23400])
    ap.add_argument("--boot", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print("| patients | sets | B | CPU per run min / median | wall min / median | "
          "CPU per replicate (min) | load |")
    print("|---|---|---|---|---|---|---|")
    for n in a.patients:
        reg = generate(GeneratorParams(seed=2025, patients=n, error_rate=0.0))
        fr = tidy(reg.rows_by_site(), reg.schema())
        cohort = build_cohort(STUDY, fr)
        plan = plan_matching(cohort, STUDY)
        d = Draws.make(plan, STUDY, seed=1, min_draws=50, max_draws=50, mc_se=1e-9)
        pp = per_protocol(d.stack, cohort, STUDY, plan)
        cpu, wall = [], []
        load = os.getloadavg()[0]
        for _ in range(a.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            pp_bootstrap(cohort, STUDY, pp.combined, a.boot, seed=1)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(f"| {n:,} | {len(plan.exposed):,} | {a.boot} | {min(cpu):.2f} / "
              f"{statistics.median(cpu):.2f} s | {min(wall):.2f} / "
              f"{statistics.median(wall):.2f} s | {min(cpu) / a.boot * 1000:.0f} ms | "
              f"{load:.1f}-{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
