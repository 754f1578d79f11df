"""Immortal time from delayed entry: the study with and without `[time] entry`.

    PYTHONPATH=. python benchmarks/analyses_entry_sim.py --patients 2340 --reps 40 \
        --delayed 0.5

Each replicate: `generate(GeneratorParams(seed, patients, 5, error_rate=0, true_hr,
delayed_entry=q))` (a fraction q of the patients enter the registry 1-365 days after
diagnosis; those whose follow-up ends before entry are never recorded; history before
entry is recorded back to diagnosis) -> `registry.tidy.tidy` -> the anti-MDA5 study
(`registries/anti_mda5/studies/jak_cni.toml`) twice: with
`entry = { frame = "patients", column = "registry_entry_date" }` under `[time]`, and as
shipped (at risk from diagnosis). For each: the headline (mean log HR over M re-drawn
matchings, M fixed by --draws) and the full-cohort time-varying Cox model. At
true_hr 1.0 every estimand is log HR 0, so the mean is the bias.
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
from analyses.perprotocol import full_cohort
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy

TEXT = (Path(__file__).resolve().parents[1] / "registries" / "anti_mda5" / "studies"
        / "jak_cni.toml").read_text()
SPECS = {"entry": parse_study(TEXT.replace(
    "[time]", '[time]\nentry = { frame = "patients", column = "registry_entry_date" }')),
    "ignored": parse_study(TEXT)}
Z = 1.959964


def _replicate(args: tuple[int, int, float, float, int]) -> dict[str, float]:
    seed, patients, true_hr, delayed, draws = args
    reg = generate(GeneratorParams(seed=seed, patients=patients, sites=5, error_rate=0.0,
                                   true_hr=true_hr, delayed_entry=delayed))
    fr = tidy(reg.rows_by_site(), reg.schema())
    out: dict[str, float] = {"recorded": float(len(fr.patients))}
    for tag, spec in SPECS.items():
        cohort = build_cohort(spec, fr)
        plan = plan_matching(cohort, spec)
        d = Draws.make(plan, spec, seed=seed, min_draws=draws, max_draws=draws, mc_se=1e-9)
        c = d.headline.combined
        out[f"{tag}_sets"] = float(d.headline.counts.n_sets)
        out[f"{tag}_beta"] = math.nan if c.log_hr is None else c.log_hr
        out[f"{tag}_se"] = math.nan if c.se is None else c.se
        f = full_cohort(cohort, spec, plan)
        out[f"{tag}_full"] = math.nan if f.beta is None else f.beta
        out[f"{tag}_full_se"] = math.nan if f.se is None else f.se
    return out


def _summary(b: np.ndarray, se: np.ndarray, truth: float) -> str:
    ok = np.isfinite(b) & np.isfinite(se)
    mean, mcse = float(b[ok].mean()), float(b[ok].std(ddof=1) / math.sqrt(ok.sum()))
    cover = float((np.abs(b[ok] - truth) <= Z * se[ok]).mean())
    return (f"mean log HR {mean:+.3f} (MC SE {mcse:.3f}), HR {math.exp(mean):.2f}, "
            f"95 % CI covers log(true HR) {100 * cover:.1f} % ({ok.sum()} estimable)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=2340)
    ap.add_argument("--true-hr", type=float, default=1.0)
    ap.add_argument("--delayed", type=float, default=0.5)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=11000)
    a = ap.parse_args()
    t0 = time.time()
    jobs = [(a.first_seed + i, a.patients, a.true_hr, a.delayed, a.draws)
            for i in range(a.reps)]
    with Pool(a.workers) as pool:
        res = pool.map(_replicate, jobs, chunksize=1)
    col = {k: np.array([r.get(k, math.nan) for r in res]) for k in res[0]}
    truth = math.log(a.true_hr)
    print(f"### delayed entry (patients={a.patients} simulated, delayed_entry={a.delayed}, "
          f"true_hr={a.true_hr}, {a.reps} replicates, seeds {a.first_seed}.., M={a.draws}, "
          f"load average {os.getloadavg()[0]:.1f})\n")
    print(f"- recorded patients per replicate: {np.mean(col['recorded']):.0f}; sets: with "
          f"entry {np.mean(col['entry_sets']):.1f}, ignoring it "
          f"{np.mean(col['ignored_sets']):.1f}")
    for tag, what in (("entry", "with entry"), ("ignored", "ignoring entry")):
        print(f"- headline, {what}: {_summary(col[f'{tag}_beta'], col[f'{tag}_se'], truth)}")
        print(f"- full cohort, {what}: "
              f"{_summary(col[f'{tag}_full'], col[f'{tag}_full_se'], truth)}")
    print(f"\n({time.time() - t0:.0f} s on {a.workers} workers)")


if __name__ == "__main__":
    main()
