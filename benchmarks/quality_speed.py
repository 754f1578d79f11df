"""How long the quality stage takes at 1x, 10x and 100x the synthetic registry.

Run: PYTHONPATH=. nice python benchmarks/quality_speed.py [--repeats N] [--gx] [patients ...]

Per size (generator seed 7, error rate 0.1, 5 sites): the whole `validate()` with the
vectorised engine (min / median of N runs), its parts (prepare, dictionary columns,
rule evaluation), the same rules in plain vectorised pandas on the same prepared frames
(`plain_rules`: one hand-written pandas expression per rule, written without the
engine's code) and, with --gx, the same stage with every rule run through Great
Expectations. Ratios: stage / plain pandas rules (#14's target: within 3x at 100x),
stage / (prepare + dictionary columns + plain rules), i.e. against plain pandas doing the
whole job with the same preparation, and the engine alone / plain pandas rules.
Tidy is timed apart (it is not the quality stage). The machine's load average is printed
with every figure: on a shared machine, compare figures of one run side by side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from registry.quality import validate
from registry.quality.derived import add_dictionary_columns, derive_rules
from registry.quality.engine import run_rules
from registry.quality.prepare import prepare
from registry.quality.runner import _frames_of
from registry.quality.suites import Rule, load_suites
from registry.sandbox.generator import REGISTRY_FOLDER, GeneratorParams, generate
from registry.tidy import tidy

SUITES = REGISTRY_FOLDER / "expectations"


CPU: list[float] = []  # CPU seconds of the last _times call's runs


def _times(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """(min, median) wall seconds of `repeats` runs and the last result; CPU in CPU."""
    out, seconds = None, []
    CPU.clear()
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        seconds.append(time.perf_counter() - start)
        CPU.append(time.process_time() - cpu)
    return min(seconds), statistics.median(seconds), out


def _cond(df: pd.DataFrame, cond: Mapping[str, Any] | None) -> pd.Series:
    """A GX row condition as plain pandas."""
    if not cond:
        return pd.Series(True, index=df.index)
    if cond["type"] in ("and", "or"):
        parts = [_cond(df, c) for c in cond["conditions"]]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if cond["type"] == "and" else (out | p)
        return out
    col = df[cond["column"]["name"]]
    if cond["type"] == "nullity":
        return col.isna() if cond.get("is_null", True) else col.notna()
    op, value = cond["operator"], cond.get("parameter")
    if op == "IN":
        return col.isin(value).fillna(False).astype(bool)
    if pd.api.types.is_datetime64_any_dtype(col) and isinstance(value, str):
        value = pd.Timestamp(value)
    result = {"==": col.__eq__, "!=": col.__ne__, "<": col.__lt__, "<=": col.__le__,
              ">": col.__gt__, ">=": col.__ge__}[op](value)
    return result.fillna(False).astype(bool)


def _plain_one(df: pd.DataFrame, rule: Rule) -> np.ndarray:
    kw, t = rule.kwargs, rule.type
    where = _cond(df, kw.get("row_condition"))
    if "column" in kw:
        col = df[kw["column"]]
        if t == "expect_column_values_to_not_be_null":
            bad = col.isna()
        elif t == "expect_column_values_to_be_null":
            bad = col.notna()
        elif t == "expect_column_values_to_be_in_set":
            bad = col.notna() & ~col.isin(kw["value_set"]).fillna(False).astype(bool)
        elif t == "expect_column_values_to_be_between":
            lo, hi = kw.get("min_value"), kw.get("max_value")
            if pd.api.types.is_datetime64_any_dtype(col):
                lo = pd.Timestamp(lo) if lo is not None else None
                hi = pd.Timestamp(hi) if hi is not None else None
            bad = pd.Series(False, index=df.index)
            if lo is not None:
                bad |= (col < lo).fillna(False).astype(bool)
            if hi is not None:
                bad |= (col > hi).fillna(False).astype(bool)
        else:
            raise NotImplementedError(t)
    elif t == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = df[kw["column_A"]], df[kw["column_B"]]
        ok = (a >= b) if kw.get("or_equal") else (a > b)
        bad = a.notna() & b.notna() & ~ok.fillna(False).astype(bool)
    elif t == "expect_column_pair_values_to_be_equal":
        a, b = df[kw["column_A"]], df[kw["column_B"]]
        bad = a.notna() & b.notna() & ~(a == b).fillna(False).astype(bool)
    else:
        raise NotImplementedError(t)
    return np.flatnonzero((bad & where).to_numpy(bool))


def plain_rules(frames: Mapping[str, pd.DataFrame], rules: Sequence[Rule]) -> int:
    """The rules' failing rows in plain pandas; returns the number of failing rows."""
    return sum(len(_plain_one(frames[r.frame], r)) for r in rules)


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main(sizes: Sequence[int], repeats: int, gx: bool) -> None:
    suites = load_suites(SUITES)
    for n in sizes:
        _size(n, repeats, gx, suites)


def _size(n: int, repeats: int, gx: bool, suites: Sequence[Any]) -> None:
    """Time one size (see the module docstring)."""
    reg = generate(GeneratorParams(seed=7, patients=n, error_rate=0.1))
    today = reg.params.as_of
    t_min, t_med, frames = _times(lambda: tidy(reg.rows_by_site(), reg.schema()), 1)
    form_frames, _ = _frames_of(frames)
    shape = frames.schema
    rows = sum(len(f) for f in form_frames.values())
    print(f"{n} patients ({rows} rows), tidy {t_min:.2f} s [{_load()}]")

    def stage() -> Any:
        return validate(frames, frames.schema, SUITES, site_links=None, today=today)

    s_min, s_med, result = _times(stage, repeats)
    s_cpu = min(CPU)
    p_min, _, prepared = _times(lambda: prepare(form_frames, shape).frames, repeats)
    d_min, _, (ready, _) = _times(lambda: add_dictionary_columns(
        prepared, shape, today=today), repeats)
    rules = [r for s in suites for r in s.rules]
    rules += [r for r in derive_rules(shape, today=dt.date(2025, 6, 30)).rules
              if r.type != "conformance"]
    e_min, _, _ = _times(lambda: run_rules(ready, rules), repeats)
    plain_min, plain_med, failing = _times(lambda: plain_rules(ready, rules), repeats)
    plain_cpu = min(CPU)
    print(f"  validate (vectorised): min {s_min:.3f} s, median {s_med:.3f} s wall, "
          f"{s_cpu:.3f} s CPU; "
          f"{len(result.failures)} flags, {result.rule_results['rule_id'].nunique()} "
          f"rules [{_load()}]")
    print(f"    parts (min): prepare {p_min:.3f} s, dictionary columns {d_min:.3f} s, "
          f"rule evaluation {e_min:.3f} s, flags and results "
          f"{max(s_min - p_min - d_min - e_min, 0):.3f} s")
    print(f"  plain pandas, same {len(rules)} rules: min {plain_min:.3f} s, median "
          f"{plain_med:.3f} s wall, {plain_cpu:.3f} s CPU ({failing} failing rows) "
          f"[{_load()}]")
    inclusive = p_min + d_min + plain_min
    print(f"  ratios (min wall): stage / plain rules {s_min / plain_min:.2f}x; stage / "
          f"(prepare + dictionary columns + plain rules) {s_min / inclusive:.2f}x; rule "
          f"evaluation / plain rules {e_min / plain_min:.2f}x (CPU: stage / plain rules "
          f"{s_cpu / plain_cpu:.2f}x)")
    if gx:
        import great_expectations  # noqa: F401  (import cost kept out of the timing)

        g_min, g_med, g_result = _times(lambda: validate(
            frames, frames.schema, SUITES, site_links=None, today=today, engine="gx"),
            max(1, repeats // 2))
        same = g_result.failures[["record_id", "rule_id", "field"]].astype(str).equals(
            result.failures[["record_id", "rule_id", "field"]].astype(str))
        print(f"  validate (GX): min {g_min:.3f} s, median {g_med:.3f} s; same flags: "
              f"{same}; GX / vectorised {g_min / s_min:.1f}x [{_load()}]")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patients", nargs="*", type=int, default=[234, 2340, 23400])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gx", action="store_true", help="also time the stage through GX")
    args = parser.parse_args()
    main(args.patients, args.repeats, args.gx)
