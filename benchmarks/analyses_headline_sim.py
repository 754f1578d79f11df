"""Simulations behind the headline (M re-drawn matchings combined) and the per-protocol row.

    PYTHONPATH=. python benchmarks/analyses_headline_sim.py truth --patients 23400 --reps 6
    PYTHONPATH=. python benchmarks/analyses_headline_sim.py coverage --patients 234 \
        --reps 300 --truth 0
    PYTHONPATH=. python benchmarks/analyses_headline_sim.py coverage --patients 2340 \
        --reps 200 --truth 0

Each replicate: `generate(GeneratorParams(seed, patients, 5, error_rate=0, true_hr))`
-> `registry.tidy.tidy` -> the cohort and matching plan of
`registries/anti_mda5/studies/jak_cni.toml` ->
`analyses.headline.Draws.make` with the defaults of `analyses.run.run_study` (at least
50 draws, until the Monte-Carlo SE of log HR is 0.005, at most 5000; `--min-draws` and
`--max-draws` change them), twice, with two
master seeds (the replicate seed and seed + 10^6) -> the per-protocol analysis on the
first master seed's draws.

truth:    the headline's estimand is "start now vs not now" (controls who start later
          stay controls), whose value is not the generator's `true_hr` (crossovers dilute
          it). Its value is estimated as the mean combined log HR over big cohorts.
coverage: how often the headline's 95 % CI (model-based multiple-outputation variance)
          covers the truth given with --truth; how often the per-protocol 95 % CI covers
          log(true_hr) (the generator's HR is the per-protocol estimand's value);
          how often two master seeds give headline HRs within 2 % of each other.
Prints a markdown block for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
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
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy

STUDY = parse_study((Path(__file__).resolve().parents[1] / "registries" / "anti_mda5"
                     / "studies" / "jak_cni.toml").read_text())
Z = 1.959964


def _replicate(args: tuple[int, int, float, bool, int, int]) -> dict[str, float]:
    seed, patients, true_hr, second, min_draws, max_draws = args
    reg = generate(GeneratorParams(seed=seed, patients=patients, sites=5, error_rate=0.0,
                                   true_hr=true_hr))
    fr = tidy(reg.rows_by_site(), reg.schema())
    cohort = build_cohort(STUDY, fr)
    plan = plan_matching(cohort, STUDY)
    out: dict[str, float] = {"sets": float(len(plan.exposed))}
    for tag, master in (("a", seed), ("b", seed + 10**6))[:2 if second else 1]:
        d = Draws.make(plan, STUDY, seed=master, min_draws=min_draws, max_draws=max_draws,
                       mc_se=0.005)
        c = d.headline.combined
        out[f"{tag}_beta"] = math.nan if c.log_hr is None else c.log_hr
        out[f"{tag}_se"] = math.nan if c.se is None else c.se
        out[f"{tag}_mc_se"] = math.nan if c.mc_se is None else c.mc_se
        out[f"{tag}_draws"] = float(d.n_draws)
        out[f"{tag}_within"] = math.nan if c.within_se is None else c.within_se
        out[f"{tag}_events"] = d.headline.counts.events
        if tag == "a":
            pp = per_protocol(d.stack, cohort, STUDY, plan).combined
            out["pp_beta"] = math.nan if pp.log_hr is None else pp.log_hr
            out["pp_se_model"] = math.nan if pp.se is None else pp.se
            out["pp_se_robust"] = math.nan if pp.se_robust is None else pp.se_robust
    return out


def _cover(b: np.ndarray, se: np.ndarray, truth: float) -> str:
    ok = np.isfinite(b) & np.isfinite(se)
    hit = np.abs(b[ok] - truth) <= Z * se[ok]
    p = float(hit.mean())
    return (f"{100 * p:.1f} % (MC SE {100 * math.sqrt(p * (1 - p) / ok.sum()):.1f}), "
            f"{ok.sum()} estimable")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["truth", "coverage"])
    ap.add_argument("--patients", type=int, default=234)
    ap.add_argument("--true-hr", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=7000)
    ap.add_argument("--min-draws", type=int, default=50, help="run_study's default: 50")
    ap.add_argument("--max-draws", type=int, default=5000, help="run_study's default: 5000")
    ap.add_argument("--truth", type=float, default=None,
                    help="the estimand's log HR (from `truth`); default log(true_hr)")
    a = ap.parse_args()
    t0 = time.time()
    jobs = [(a.first_seed + i, a.patients, a.true_hr, a.what == "coverage", a.min_draws,
             a.max_draws) for i in range(a.reps)]
    with Pool(a.workers) as pool:
        res = pool.map(_replicate, jobs, chunksize=1)
    col = {k: np.array([r.get(k, math.nan) for r in res]) for k in res[0]}
    head = (f"patients={a.patients}, true_hr={a.true_hr}, {a.reps} replicates, seeds "
            f"{a.first_seed}.., load average {os.getloadavg()[0]:.1f}")
    print(f"### headline {a.what} ({head})\n")
    print(f"- per replicate: {np.nanmean(col['sets']):.1f} sets, "
          f"{np.nanmean(col['a_events']):.1f} events, draws median "
          f"{np.nanmedian(col['a_draws']):.0f} (min {np.nanmin(col['a_draws']):.0f}, max "
          f"{np.nanmax(col['a_draws']):.0f})")
    b = col["a_beta"]
    ok = np.isfinite(b)
    mean, mcse = float(b[ok].mean()), float(b[ok].std(ddof=1) / math.sqrt(ok.sum()))
    print(f"- combined log HR: mean {mean:.4f} (MC SE {mcse:.4f}), empirical SD "
          f"{b[ok].std(ddof=1):.3f}, median SE {np.nanmedian(col['a_se']):.3f}, median SE "
          f"of one draw {np.nanmedian(col['a_within']):.3f}, median Monte-Carlo SE "
          f"{np.nanmedian(col['a_mc_se']):.4f}")
    pp = col["pp_beta"]
    pok = np.isfinite(pp)
    print(f"- per protocol log HR: mean {pp[pok].mean():.4f} (MC SE "
          f"{pp[pok].std(ddof=1) / math.sqrt(pok.sum()):.4f}), empirical SD "
          f"{pp[pok].std(ddof=1):.3f}; log(true HR) {math.log(a.true_hr):.4f}")
    if a.what == "coverage":
        truth = math.log(a.true_hr) if a.truth is None else a.truth
        diff = np.abs(np.exp(col["a_beta"] - col["b_beta"]) - 1)
        dok = np.isfinite(diff)
        print(f"- headline 95 % CI covers the estimand ({truth:.4f}): "
              f"{_cover(col['a_beta'], col['a_se'], truth)}")
        print(f"- per-protocol 95 % CI covers log(true HR): model-based "
              f"{_cover(pp, col['pp_se_model'], math.log(a.true_hr))}; robust "
              f"{_cover(pp, col['pp_se_robust'], math.log(a.true_hr))}")
        print(f"- two master seeds within 2 %: {100 * (diff[dok] < 0.02).mean():.1f} % of "
              f"{dok.sum()} cohorts (median |difference| {100 * np.median(diff[dok]):.2f} %, "
              f"95th percentile {100 * np.percentile(diff[dok], 95):.2f} %)")
    print(f"\n({time.time() - t0:.0f} s on {a.workers} workers)")


if __name__ == "__main__":
    main()
