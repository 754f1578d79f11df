"""One estimate from M re-drawn matchings, with a variance carrying both the sampling of
patients and the draw of the controls.

Estimator: the mean over draws of log HR, b = mean(b_m). Each draw's model variance
W_m estimates the whole variance of a one-draw estimate, Var(b_m) = V_s + V_d (the
sampled risk sets give a valid partial likelihood: Goldstein & Langholz, Ann Stat
1992;20:1903-28); averaging M draws keeps V_s and divides V_d by M. The draws'
spread B (their sample variance) estimates V_d, so

    Var(b) = V_s + V_d / M  ~  mean(W_m) - (1 - 1/M) B

which is the multiple-outputation variance (Follmann, Proschan & Leifer, Biometrics
2003;59:420-9). sqrt(B / M) is the Monte-Carlo SE of b: what another master seed
would move it by. Validated by simulation (coverage of the 95 % CI, and two master
seeds' agreement): benchmarks/analyses_sim.py, benchmarks/RESULTS.md. A patient-level
bootstrap redoing the matching would carry the same two variances at B x M matchings
and fits a night; the analytic combination costs nothing beyond the M draws.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["Combined", "MAX_NOT_ESTIMABLE", "combine_draws", "wald"]

_Z = float(stats.norm.ppf(0.975))
#: Above this share of draws that cannot be estimated, neither can the combination.
MAX_NOT_ESTIMABLE = 0.01


def wald(beta: float, se: float) -> tuple[tuple[float, float], float]:
    """95 % CI of exp(beta) and the two-sided p of beta = 0."""
    return ((math.exp(beta - _Z * se), math.exp(beta + _Z * se)),
            float(2 * stats.norm.sf(abs(beta / se))))


@dataclass(frozen=True)
class Combined:
    """The combined log HR, its SEs, and how much the draws moved it.

    `se` / `se_robust`: multiple-outputation SEs from the model-based / robust draw
    variances; `mc_se`: Monte-Carlo SE (master seed); `draw_sd`: SD of log HR over draws;
    `within_se`: sqrt(mean model variance), the SE of one draw. None with `message`
    when not estimable.
    """

    n_draws: int
    n_estimable: int
    log_hr: float | None
    se: float | None
    se_robust: float | None
    mc_se: float | None
    draw_sd: float | None
    within_se: float | None
    message: str = ""


def combine_draws(beta: np.ndarray, se_model: np.ndarray, se_robust: np.ndarray,
                  reasons: list[str]) -> Combined:
    """Combine per-draw fits; `reasons[m]` says why draw m is not estimable ("" if it is)."""
    m = len(beta)
    ok = np.isfinite(beta) & np.isfinite(se_model)
    n_ok = int(ok.sum())
    bad = [r or "the Cox fit did not converge" for r, good in zip(reasons, ok, strict=True)
           if not good]
    if m == 0:
        return Combined(0, 0, None, None, None, None, None, None, "no draws")
    if n_ok == 0 or (m - n_ok) / m > MAX_NOT_ESTIMABLE:
        why = Counter(bad).most_common(1)[0][0]   # m > n_ok here: some draw failed
        share = (m - n_ok) / m
        msg = why if share == 1 else (f"{why} in {share:.0%} of the {m} re-drawn matchings, "
                                      "so the combined hazard ratio is not estimable")
        return Combined(m, n_ok, None, None, None, None, None, None, msg)
    b, w, wr = beta[ok], se_model[ok] ** 2, se_robust[ok] ** 2
    mean = float(b.mean())
    between = float(b.var(ddof=1)) if n_ok > 1 else 0.0
    shrink = (1 - 1 / n_ok) * between
    v, vr = float(w.mean()) - shrink, float(wr.mean()) - shrink
    note = ""
    if n_ok < m:
        note = (f"{m - n_ok} of {m} re-drawn matchings not estimable "
                f"({Counter(bad).most_common(1)[0][0]}), left out")
    if v <= 0:
        return Combined(m, n_ok, mean, None, None, math.sqrt(between / n_ok),
                        math.sqrt(between), math.sqrt(float(w.mean())),
                        "the draws vary more than the model variance allows: no CI")
    return Combined(m, n_ok, mean, math.sqrt(v), math.sqrt(vr) if vr > 0 else None,
                    math.sqrt(between / n_ok), math.sqrt(between),
                    math.sqrt(float(w.mean())), note)
