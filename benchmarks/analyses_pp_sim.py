"""Which variance gives the per-protocol (IPC-weighted) row a CI with nominal coverage.

    PYTHONPATH=. python benchmarks/analyses_pp_sim.py --patients 234 --reps 200 --draws 100 \
        --boot 200

Each replicate: `generate(GeneratorParams(seed, patients, 5, error_rate=0, true_hr))`
-> `registry.tidy.tidy` -> the cohort and matching plan of
`registries/anti_mda5/studies/jak_cni.toml` -> `analyses.headline.Draws.make` with M =
--draws draws (fixed, so every replicate costs the same) -> `analyses.perprotocol.
per_protocol` on those draws. The per-protocol estimand ("start now vs never start
within the horizon") is the generator's HR, so coverage is of log(true_hr). The draws'
log HRs b_m, their weighted model-based and robust variances W_m, R_m and spread B
give four CIs around mean(b_m):

mo model    sqrt(mean W - (1 - 1/M) B)  (multiple outputation; what the report uses)
mean model  sqrt(mean W)                (no credit for averaging the draws)
mo robust   sqrt(mean R - (1 - 1/M) B)
mean robust sqrt(mean R)
bootstrap   sqrt(var(b*_r) - (1 - 1/M) B)  (`analyses.ppboot`, --boot replicates that
            resample patients and redo the matching and the weights; what the report
            uses when the study's `pp_bootstrap` > 0; skipped with --boot 0)

Prints a markdown table for benchmarks/RESULTS.md.
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

from analyses import parse_study
from analyses.cohort import build_cohort
from analyses.headline import Draws
from analyses.matching import plan_matching
from analyses.perprotocol import per_protocol
from analyses.ppboot import bootstrap_se, pp_bootstrap
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy

STUDY = parse_study((Path(__file__).resolve().parents[1] / "registries" / "anti_mda5"
                     / "studies" / "jak_cni.toml").read_text())
Z = 1.959964
VARIANTS = ("mo model", "mean model", "mo robust", "mean robust", "bootstrap")
#: Bootstrap sizes scored from the first B replicates of the --boot ones (replicate r
#: depends only on the cohort, the seed and r, so they are what a B-replicate run gives).
PREFIXES = (25, 50, 100, 200, 400)


def _replicate(args: tuple[int, int, float, int, int]) -> dict[str, float]:
    seed, patients, true_hr, draws, n_boot = args
    reg = generate(GeneratorParams(seed=seed, patients=patients, sites=5, error_rate=0.0,
                                   true_hr=true_hr))
    fr = tidy(reg.rows_by_site(), reg.schema())
    cohort = build_cohort(STUDY, fr)
    plan = plan_matching(cohort, STUDY)
    d = Draws.make(plan, STUDY, seed=seed, min_draws=draws, max_draws=draws, mc_se=1e-9)
    pp = per_protocol(d.stack, cohort, STUDY, plan)
    b, sm, sr = pp.fit.beta, pp.fit.se_model, pp.fit.se_robust
    ok = np.isfinite(b) & np.isfinite(sm) & np.isfinite(sr)
    out: dict[str, float] = {"estimable": float(ok.mean()), "w_max": pp.weight_max,
                             "w_mean": pp.weight_mean}
    if ok.mean() < 0.99 or ok.sum() < 2:
        return {**out, "b": math.nan, **{v: math.nan for v in VARIANTS}}
    b, w, r = b[ok], sm[ok] ** 2, sr[ok] ** 2
    shrink = (1 - 1 / len(b)) * float(b.var(ddof=1))
    out["b"] = float(b.mean())
    for tag, v in zip(VARIANTS[:4], (w.mean() - shrink, w.mean(), r.mean() - shrink,
                                     r.mean()), strict=True):
        out[tag] = math.sqrt(v) if v > 0 else math.nan
    out["bootstrap"] = math.nan
    out["boot_failed"] = 0.0
    if n_boot:
        c0 = time.process_time()
        bs = pp_bootstrap(cohort, STUDY, pp.combined, n_boot, seed)
        out["boot_cpu"] = time.process_time() - c0
        out["bootstrap"] = math.nan if bs.se is None else bs.se
        out["boot_failed"] = float(n_boot - bs.n_ok)
        for size in PREFIXES:
            if size < n_boot:
                sub = bootstrap_se(np.array(bs.replicates[:size]), pp.combined)
                out[f"bootstrap B={size}"] = math.nan if sub.se is None else sub.se
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=234)
    ap.add_argument("--true-hr", type=float, default=1.0)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=7000)
    ap.add_argument("--boot", type=int, default=0, help="bootstrap replicates (0: none)")
    ap.add_argument("--out", default="", help="append each replicate as a JSON line here "
                    "(as it finishes); with --summarise, only read it and print the table")
    ap.add_argument("--summarise", action="store_true")
    a = ap.parse_args()
    t0, load0 = time.time(), os.getloadavg()[0]
    jobs = [(a.first_seed + i, a.patients, a.true_hr, a.draws, a.boot)
            for i in range(a.reps)]
    if a.summarise:
        res = [json.loads(line) for line in Path(a.out).read_text().splitlines()]
        a.reps = len(res)
    else:
        res = []
        with Pool(a.workers) as pool:
            for r in pool.imap(_replicate, jobs, chunksize=1):
                res.append(r)
                if a.out:
                    with open(a.out, "a") as fh:
                        fh.write(json.dumps(r) + "\n")
    col = {k: np.array([r.get(k, math.nan) for r in res], float)
           for k in dict.fromkeys(k for r in res for k in r)}
    truth = math.log(a.true_hr)
    b = col["b"]
    ok = np.isfinite(b)
    mc = float(b[ok].std(ddof=1) / math.sqrt(ok.sum()))
    print(f"### per protocol (patients={a.patients}, true_hr={a.true_hr}, M={a.draws}, "
          f"{a.reps} replicates, seeds {a.first_seed}.., load average {load0:.1f} at "
          f"start, {os.getloadavg()[0]:.1f} at end)\n")
    print(f"estimable in {ok.sum()} of {a.reps}; mean log HR {b[ok].mean():+.4f} (MC SE "
          f"{mc:.4f}), empirical SD {b[ok].std(ddof=1):.3f}; control weights: mean "
          f"{np.mean(col['w_mean']):.2f}, largest {np.max(col['w_max']):.1f}\n")
    if a.boot:
        cpu = col["boot_cpu"][np.isfinite(col["boot_cpu"])]
        print(f"bootstrap: B = {a.boot}; replicates not estimable: median "
              f"{np.nanmedian(col['boot_failed']):.0f}, largest "
              f"{np.nanmax(col['boot_failed']):.0f}; CPU per bootstrap: min "
              f"{cpu.min():.1f} s, median {np.median(cpu):.1f} s\n")
    print("| variance | median SE | CI coverage (MC SE) |")
    print("|---|---|---|")
    tags = [*VARIANTS, *(f"bootstrap B={size}" for size in PREFIXES if size < a.boot)]
    for tag in tags:
        se = col[tag]
        good = ok & np.isfinite(se)
        if not good.any():
            continue
        p = float((np.abs(b[good] - truth) <= Z * se[good]).mean())
        name = f"bootstrap B={a.boot}" if tag == "bootstrap" else tag
        print(f"| {name} | {np.median(se[good]):.3f} | {100 * p:.1f} % "
              f"({100 * math.sqrt(p * (1 - p) / good.sum()):.1f}), {good.sum()} with a CI |")
    print(f"\n({time.time() - t0:.0f} s on {a.workers} worker(s))")


if __name__ == "__main__":
    main()
