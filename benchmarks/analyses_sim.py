"""Simulations for the JAK-CNI analyses on the synthetic generator (error_rate = 0).

    PYTHONPATH=. python benchmarks/analyses_sim.py coverage --patients 234 --true-hr 1.0 --reps 300
    PYTHONPATH=. python benchmarks/analyses_sim.py recovery --patients 3000 --true-hr 0.5 --reps 40
    PYTHONPATH=. python benchmarks/analyses_sim.py seedspread --patients 234 --seeds 200

Each replicate: `generate(GeneratorParams(seed, patients, 5, 0.0, true_hr))` -> REDCap
rows grouped by data access group -> `registry.tidy.tidy` -> `analyses` matching
(seed = replicate seed) -> stratified Cox (own Efron implementation, equal to lifelines
to 1e-6). Prints a markdown block for benchmarks/RESULTS.md.

coverage:  how often the model-based and the robust (clustered by patient) 95 % CIs
           cover log(true_hr), main analysis and crossover-censored analysis.
recovery:  mean log HR over replicates (main vs crossover-censored) against log(true_hr),
           with Monte-Carlo SEs.
seedspread: on one cohort, the HR over many matching seeds vs the model SE.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from multiprocessing import Pool

import numpy as np

from analyses import censor_at_crossover, cox, match, parse_study
from analyses.cohort import build_cohort
from registry.sandbox.generator import REGISTRY_FOLDER, GeneratorParams, generate
from registry.tidy import tidy

STUDY = parse_study((REGISTRY_FOLDER / "studies" / "jak_cni.toml").read_text())
Z = 1.959964


def _frames(seed: int, patients: int, true_hr: float):  # type: ignore[no-untyped-def]
    reg = generate(GeneratorParams(seed=seed, patients=patients, sites=5, error_rate=0.0,
                                   true_hr=true_hr))
    return tidy(reg.rows_by_site(), reg.schema())


def _replicate(args: tuple[int, int, float, int]) -> dict[str, float]:
    seed, patients, true_hr, ratio = args
    spec = replace(STUDY, ratio=ratio)
    m = match(build_cohort(spec, _frames(seed, patients, true_hr)), spec, seed)
    out: dict[str, float] = {"sets": m.n_sets, "short": m.n_short,
                             "crossovers": float(m.rows["crossover_day"].lt(
                                 m.rows["time"]).sum())}
    for label, rows in (("main", m.rows), ("cens", censor_at_crossover(m.rows))):
        c = cox(rows, label, engine="fast")
        out[f"{label}_events"] = c.events
        if c.hr is None:
            out[f"{label}_beta"] = math.nan
            continue
        out[f"{label}_beta"] = math.log(c.hr)
        out[f"{label}_se_model"] = c.se_model or math.nan
        out[f"{label}_se_robust"] = c.se_robust or math.nan
    return out


def _run(patients: int, true_hr: float, reps: int, ratio: int, workers: int, first: int
         ) -> list[dict[str, float]]:
    jobs = [(first + i, patients, true_hr, ratio) for i in range(reps)]
    with Pool(workers) as pool:
        return pool.map(_replicate, jobs, chunksize=1)


def _coverage(res: list[dict[str, float]], label: str, true_hr: float) -> str:
    b = np.array([r[f"{label}_beta"] for r in res])
    ok = ~np.isnan(b)
    b = b[ok]
    lines = []
    for var in ("model", "robust"):
        se = np.array([r.get(f"{label}_se_{var}", math.nan) for r in res])[ok]
        cov = np.abs(b - math.log(true_hr)) <= Z * se
        p = cov.mean()
        lines.append(f"| {label} | {var} | {ok.sum()}/{len(res)} | {100 * p:.1f} % "
                     f"(MC SE {100 * math.sqrt(p * (1 - p) / len(b)):.1f}) | "
                     f"{np.median(se):.3f} |")
    lines.append(f"| {label} | (empirical SD of log HR) | | | {np.std(b, ddof=1):.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["coverage", "recovery", "seedspread"])
    ap.add_argument("--patients", type=int, default=234)
    ap.add_argument("--true-hr", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--ratio", type=int, default=STUDY.ratio)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=1000)
    a = ap.parse_args()
    t0 = time.time()
    head = (f"patients={a.patients}, true_hr={a.true_hr}, ratio=1:{a.ratio}, "
            f"seeds {a.first_seed}..")
    if a.what == "seedspread":
        fr = _frames(a.first_seed, a.patients, a.true_hr)
        cohort = build_cohort(STUDY, fr)
        hrs, se = [], []
        for s in range(a.seeds):
            c = cox(match(cohort, STUDY, s).rows, "s", engine="fast")
            if c.hr is not None:
                hrs.append(math.log(c.hr))
                se.append(c.se_model)
        sd = float(np.std(hrs, ddof=1))
        print(f"### seed spread ({head}, {a.seeds} matching seeds)\n")
        print(f"- estimable: {len(hrs)}/{a.seeds}; HR median {math.exp(np.median(hrs)):.2f}, "
              f"2.5-97.5 %: {math.exp(np.percentile(hrs, 2.5)):.2f}-"
              f"{math.exp(np.percentile(hrs, 97.5)):.2f}")
        print(f"- SD of log HR over seeds {sd:.3f}; median model SE {np.median(se):.3f}; "
              f"ratio {sd / float(np.median(se)):.2f}")
    else:
        res = _run(a.patients, a.true_hr, a.reps, a.ratio, a.workers, a.first_seed)
        sets = np.mean([r["sets"] for r in res])
        ev = np.mean([r["main_events"] for r in res])
        short = np.mean([r["short"] for r in res])
        cross = np.mean([r["crossovers"] for r in res])
        print(f"### {a.what} ({head}, {a.reps} replicates)\n")
        print(f"- per replicate: {sets:.1f} sets, {short:.1f} short of 1:{a.ratio}, "
              f"{ev:.1f} events, {cross:.1f} control rows crossing over within follow-up\n")
        if a.what == "coverage":
            print("| analysis | variance | estimable | coverage of true log HR | "
                  "median SE |\n|---|---|---|---|---|")
            print(_coverage(res, "main", a.true_hr))
            print(_coverage(res, "cens", a.true_hr))
        else:
            print("| analysis | mean log HR (MC SE) | exp(mean log HR) | bias in log HR |"
                  "\n|---|---|---|---|")
            for label in ("main", "cens"):
                b = np.array([r[f"{label}_beta"] for r in res])
                b = b[~np.isnan(b)]
                m, se = b.mean(), b.std(ddof=1) / math.sqrt(len(b))
                print(f"| {label} | {m:.3f} ({se:.3f}) | {math.exp(m):.3f} | "
                      f"{m - math.log(a.true_hr):+.3f} |")
            d = np.array([r["main_beta"] - r["cens_beta"] for r in res])
            d = d[~np.isnan(d)]
            print(f"\n- paired difference main - cens in log HR: {d.mean():+.4f} "
                  f"(MC SE {d.std(ddof=1) / math.sqrt(len(d)):.4f})")
    print(f"\n({time.time() - t0:.0f} s on {a.workers} workers)")


if __name__ == "__main__":
    main()
