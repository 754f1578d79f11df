"""The per-protocol row's variance by a patient-level bootstrap that redoes everything.

Why. The per-protocol estimate (`analyses.perprotocol`) is the mean over M re-drawn
matchings of IPC-weighted log HRs. Its multiple-outputation variance (mean of the draws'
weighted model variances minus their spread, `analyses.combine`) covered only 88 % at
study size (benchmarks/analyses_pp_sim.py): each draw's weighted model variance ignores
that the weights are estimated and is ~25 % below that draw's true variance, and
subtracting the (large) spread of the draws amplifies the shortfall.

What. B times: resample the cohort's patients with replacement (a patient drawn twice
is two patients, with its intervals), plan the matching again, draw one matching, fit
the model of starting the exposure (the weights) again and the weighted Cox model. The
replicates' log HRs b*_r estimate the variance of a one-draw estimate, sampling of
patients, weight estimation and draw of controls together: Var(b_m) = V_s + V_d. The
combined estimate averages M draws on the real data, which keeps V_s and divides V_d
by M; the spread B of those M draws estimates V_d, so

    Var(mean of M draws)  ~  var(b*_r) - (1 - 1/M) B

(the multiple-outputation identity with the bootstrap in place of the model variance).
One draw per replicate keeps the cost at B matchings and weight models, not B x M.
Replicates that cannot be estimated (no events in one arm, a monotone likelihood) are
left out and counted; above `MAX_FAILED` of them, no CI. Seeded from the master seed;
the result depends only on the cohort's content, the seed and B.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyses.cohort import Cohort
from analyses.combine import Combined
from analyses.headline import Draws
from analyses.matching import plan_matching
from analyses.perprotocol import per_protocol
from analyses.study import StudySpec

__all__ = ["MAX_FAILED", "PPBootstrap", "bootstrap_se", "pp_bootstrap", "resample_cohort"]

#: Above this share of replicates that cannot be estimated, the bootstrap gives no CI.
MAX_FAILED = 0.05


@dataclass(frozen=True)
class PPBootstrap:
    """The bootstrap's SE of the combined per-protocol log HR (None with `message`)."""

    n_boot: int
    n_ok: int
    se: float | None
    replicate_sd: float | None      # SD of the replicates' one-draw log HRs
    message: str = ""
    replicates: tuple[float, ...] = ()   # each replicate's log HR (NaN: not estimable)


def resample_cohort(cohort: Cohort, rng: np.random.Generator) -> Cohort:
    """The cohort's patients drawn with replacement, renumbered 0..n-1 (a patient drawn
    twice is two patients, each with its own copy of its intervals)."""
    tab = cohort.table
    n = len(tab)
    pick = np.sort(rng.integers(0, n, n))
    new = tab.iloc[pick].copy()
    new.index = pd.RangeIndex(n, name=tab.index.name)
    intervals = {}
    for name, iv in cohort.intervals.items():
        # each patient's interval rows (by its row position), repeated for each copy
        pos = tab.index.get_indexer(pd.Index(iv["patient_id"]))
        keep = np.flatnonzero(pos >= 0)
        keep = keep[np.argsort(pos[keep], kind="stable")]
        first = np.searchsorted(pos[keep], np.arange(n + 1))
        count = (first[1:] - first[:-1])[pick]
        copy = np.repeat(np.arange(n), count)
        offset = np.arange(len(copy)) - np.repeat(np.cumsum(count) - count, count)
        rows = keep[first[:-1][pick][copy] + offset]
        out = iv.iloc[rows].reset_index(drop=True)
        out["patient_id"] = copy
        intervals[name] = out
    return Cohort(new, intervals, cohort.flow, cohort.notes)


def pp_bootstrap(cohort: Cohort, spec: StudySpec, combined: Combined, n_boot: int,
                 seed: int) -> PPBootstrap:
    """The SE of `combined` (the per-protocol fit over the real data's M draws) from
    `n_boot` replicates (module docstring)."""
    if combined.log_hr is None or combined.draw_sd is None:
        return PPBootstrap(n_boot, 0, None, None, "the per-protocol row is not estimable")
    betas = np.full(n_boot, np.nan)
    for r in range(n_boot):
        rng = np.random.default_rng([seed, 0x5050, r])
        boot = resample_cohort(cohort, rng)
        plan = plan_matching(boot, spec)
        if not plan.exposed:
            continue
        draw_seed = int(rng.integers(0, 2**31))
        d = Draws.make(plan, spec, seed=draw_seed, min_draws=1, max_draws=1, mc_se=1.0,
                       n_draws=1)
        if not len(d.stack.member):
            continue
        betas[r] = per_protocol(d.stack, boot, spec, plan).fit.beta[0]
    return bootstrap_se(betas, combined)


def bootstrap_se(betas: np.ndarray, combined: Combined) -> PPBootstrap:
    """The SE from replicate log HRs `betas` (NaN: not estimable) and the real data's
    draws (`combined`): sqrt(var(betas) - (1 - 1/M) B), module docstring."""
    n_boot = len(betas)
    ok = betas[np.isfinite(betas)]
    failed = n_boot - len(ok)
    reps = tuple(float(b) for b in betas)
    if len(ok) < 2 or failed > MAX_FAILED * n_boot:
        return PPBootstrap(n_boot, len(ok), None, None,
                           f"{failed} of {n_boot} bootstrap replicates could not be "
                           "estimated: no bootstrap CI", reps)
    var_one = float(ok.var(ddof=1))
    m = max(combined.n_estimable, 1)
    v = var_one - (1 - 1 / m) * (combined.draw_sd or 0.0) ** 2
    note = (f"{failed} of {n_boot} bootstrap replicates not estimable, left out"
            if failed else "")
    if v <= 0:
        return PPBootstrap(n_boot, len(ok), None, math.sqrt(var_one),
                           "the draws vary more than the bootstrap variance allows: no CI",
                           reps)
    return PPBootstrap(n_boot, len(ok), math.sqrt(v), math.sqrt(var_one), note, reps)
