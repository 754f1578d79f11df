"""Type-I error of the proportional-hazards test combined over the headline's draws.

    PYTHONPATH=. python benchmarks/analyses_ph_sim.py --patients 234 --reps 300 --draws 100

Each replicate: `generate(GeneratorParams(seed, patients, 5, error_rate=0, true_hr))`
(the generator's exposure effect is a constant hazard ratio: proportional hazards hold)
-> `registry.tidy.tidy` -> the JAK-CNI study's cohort and plan -> `Draws.make` with
M = --draws draws -> `analyses.ph.ph_over_draws` (the combined Grambsch-Therneau test,
what the report quotes) and, for comparison, the one-draw test of draw 0 (what the
paper's-design test is: one matching). Prints the share of p < 0.05 (nominal 5 %) with
its Monte-Carlo SE, and the mean statistic (1 under the null), for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from scipy import stats

from analyses import parse_study
from analyses.cohort import build_cohort
from analyses.headline import Draws
from analyses.matching import plan_matching
from analyses.ph import draw_scores, ph_over_draws
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy

STUDY = parse_study((Path(__file__).resolve().parents[1] / "registries" / "anti_mda5"
                     / "studies" / "jak_cni.toml").read_text())


def _replicate(args: tuple[int, int, float, int]) -> tuple[float, float, float, float]:
    seed, patients, true_hr, draws = args
    reg = generate(GeneratorParams(seed=seed, patients=patients, sites=5, error_rate=0.0,
                                   true_hr=true_hr))
    cohort = build_cohort(STUDY, tidy(reg.rows_by_site(), reg.schema()))
    d = Draws.make(plan_matching(cohort, STUDY), STUDY, seed=seed, min_draws=draws,
                   max_draws=draws, mc_se=1e-9)
    fit = d.headline.fit
    comb = ph_over_draws(d.stack, fit.beta, fit.se_model, max_draws=draws)
    u, v, use = draw_scores(d.stack, fit.beta, fit.se_model, 1)
    one = float(u[0] ** 2 / v[0]) if use[0] else math.nan
    return (math.nan if comb.statistic is None else comb.statistic,
            math.nan if comb.p is None else comb.p, one,
            float(stats.chi2.sf(one, 1)) if math.isfinite(one) else math.nan)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=234)
    ap.add_argument("--true-hr", type=float, default=1.0)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=17000)
    ap.add_argument("--out", default="", help="append each replicate as a JSON line here "
                    "(as it finishes); with --summarise, only read it and print the table")
    ap.add_argument("--summarise", action="store_true")
    a = ap.parse_args()
    t0, c0, load0 = time.time(), time.process_time(), os.getloadavg()[0]
    jobs = [(a.first_seed + i, a.patients, a.true_hr, a.draws) for i in range(a.reps)]
    if a.summarise:
        rows = [json.loads(line) for line in Path(a.out).read_text().splitlines()]
        a.reps = len(rows)
    else:
        rows = []
        with Pool(a.workers) as pool:
            for r in pool.imap(_replicate, jobs, chunksize=1):
                rows.append(list(r))
                if a.out:
                    with open(a.out, "a") as fh:
                        fh.write(json.dumps(list(r)) + "\n")
    res = np.array(rows, float)
    print(f"### proportional-hazards test (patients={a.patients}, true_hr={a.true_hr}, "
          f"M={a.draws}, {a.reps} replicates, seeds {a.first_seed}.., load average "
          f"{load0:.1f} at start, {os.getloadavg()[0]:.1f} at end)\n")
    print("| test | with a test | p < 0.05 (MC SE) | mean statistic |")
    print("|---|---|---|---|")
    for name, stat, p in (("combined over the draws", res[:, 0], res[:, 1]),
                          ("one draw (draw 0)", res[:, 2], res[:, 3])):
        ok = np.isfinite(p)
        r = float((p[ok] < 0.05).mean())
        print(f"| {name} | {ok.sum()} | {100 * r:.1f} % "
              f"({100 * math.sqrt(r * (1 - r) / ok.sum()):.1f}) | "
              f"{np.mean(stat[ok]):.2f} |")
    print(f"\n({time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU in the "
          f"parent, {a.workers} worker(s))")


if __name__ == "__main__":
    main()
