"""lifelines' stratified Cox fit without its per-stratum pandas overhead, same numbers.

With one stratum per matched set, lifelines 0.30.3 `CoxPHFitter(strata=...)` spends
almost all its time in per-stratum pandas work: slicing every stratum out of the
frames at each Newton-Raphson step (`_partition_by_strata`), and, after the fit, the
"central values" (a `describe()` per stratum, for plots) and the baseline hazards (a
merge per stratum, for predictions). At 2,600 sets that is ~38 s per fit, of which the
Newton-Raphson arithmetic is well under a second.

`fit_stratified` runs lifelines' own fit (its data preparation, normalisation,
Newton-Raphson steps, convergence rule and variance) with three internals replaced:
the strata are sliced once with numpy, in lifelines' order, and reused at every step;
the central values and the baseline hazards, which the study never reads, are not
computed. The coefficient and its standard error are therefore bit-for-bit those of a
plain `CoxPHFitter().fit(...)` (tested in tests/analyses/test_survival.py); the fitted
object must not be used for prediction or plots. Tied to lifelines 0.30.3 (pinned in
pyproject.toml) because it overrides private methods; the test fails if an upgrade
changes them.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["fit_stratified"]


class _Values:
    """What lifelines' Efron gradient functions read from a stratum: `.values`."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values


@functools.cache
def _fitter_class() -> type:
    from lifelines import CoxPHFitter
    from lifelines.fitters.coxph_fitter import SemiParametricPHFitter

    class _Semi(SemiParametricPHFitter):  # type: ignore[misc]
        _parts_src: tuple[Any, ...] = ()
        _parts: list[tuple[Any, ...]] = []

        def _compute_central_values_of_raw_training_data(self, df: Any, strata: Any = None,
                                                         name: str = "baseline") -> None:
            return None

        def _compute_baseline_hazards(self, predicted_partial_hazards_: Any) -> pd.DataFrame:
            return pd.DataFrame(index=np.sort(self.durations.unique()))

        def _partition_by_strata(self, X: Any, T: Any, E: Any, entries: Any,
                                 weights: Any) -> Any:
            src = (X, T, E, weights)
            if entries is not None or not isinstance(X.index, pd.Index) or (
                    X.index.nlevels != 1):
                yield from super()._partition_by_strata(X, T, E, entries, weights)
                return
            if len(self._parts_src) != 4 or not all(
                    a is b for a, b in zip(src, self._parts_src, strict=True)):
                labels = X.index.to_numpy()
                # lifelines groups X by the strata (sorted keys) and takes T.loc[[key]]
                # etc.; X, T, E and weights are already sorted by stratum, so every
                # stratum is one contiguous block, in the same order.
                keys, first = np.unique(labels, return_index=True)
                order = np.argsort(first, kind="stable")
                starts = first[order]
                runs = 1 + int(np.count_nonzero(labels[1:] != labels[:-1])) if len(labels) else 0
                if not (runs == len(keys) and np.all(keys[order] == np.sort(keys))
                        and T.index.equals(X.index) and E.index.equals(X.index)
                        and weights.index.equals(X.index)):
                    yield from super()._partition_by_strata(X, T, E, entries, weights)
                    return
                bounds = np.append(starts, len(labels))
                xv, tv, ev, wv = X.to_numpy(), T.to_numpy(), E.to_numpy(), weights.to_numpy()
                parts = []
                for k, (a, b) in zip(keys[order], zip(bounds[:-1], bounds[1:], strict=True),
                                     strict=True):
                    parts.append(((_Values(xv[a:b]), _Values(tv[a:b]), _Values(ev[a:b]),
                                   _Values(wv[a:b]), None), k))
                self._parts, self._parts_src = parts, src
            yield from self._parts

    class _Cox(CoxPHFitter):  # type: ignore[misc]
        def _fit_model_breslow(self, *args: Any, **kwargs: Any) -> Any:
            model = _Semi(penalizer=self.penalizer, l1_ratio=self.l1_ratio,
                          strata=self.strata, alpha=self.alpha, label=self._label)
            model.fit(*args, **kwargs)
            return model

    return _Cox


def fit_stratified(data: pd.DataFrame, duration: str, event: str, strata: str,
                   fit_options: dict[str, float]) -> tuple[float, float]:
    """(coefficient, standard error) of the one covariate left in `data`, as lifelines gives."""
    m = _fitter_class()().fit(data, duration, event, strata=[strata], fit_options=fit_options)
    cov = [c for c in data.columns if c not in (duration, event, strata)]
    return float(m.params_[cov[0]]), float(m.standard_errors_[cov[0]])
