"""The one door to Great Expectations: `run_rules(frames, rules) -> outcomes`.

Everything GX-specific lives here so GX can be replaced: the ephemeral context (no
project folder, nothing written), one suite run per frame (all that frame's rules
batched, ~10 ms per expectation), a narrow projection (the columns the rules read plus
a row number), REDCap's "" and pandas' nullable dtypes turned into plain None/NaN
(GX treats "" as a value and its pandas filters choke on NA booleans), ISO-date bounds
turned into datetimes for date columns, and results matched back to rules by the id
kept in each expectation's meta (GX does not return them in suite order).

GX is imported lazily (about 2 s) so `registry --help` stays fast.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from registry.quality.suites import Rule

__all__ = ["Outcome", "columns_of", "run_rules"]

_ROW = "__row__"
_counter = itertools.count()


@dataclass(frozen=True)
class Outcome:
    """What one rule found on one frame: the failing rows and the rows it checked."""

    rule: Rule
    failing: np.ndarray  # row positions in the frame
    checked: np.ndarray  # boolean mask over the frame's rows
    error: str | None = None


def _condition_columns(cond: Any) -> set[str]:
    if not isinstance(cond, Mapping):
        return set()
    out = set()
    if isinstance(cond.get("column"), Mapping):
        out.add(str(cond["column"].get("name")))
    for sub in cond.get("conditions", []) or []:
        out |= _condition_columns(sub)
    return out


def columns_of(rule: Rule) -> list[str]:
    """Columns a rule reads (its GX columns and its row condition's)."""
    kw = rule.kwargs
    cols = [kw[k] for k in ("column", "column_A", "column_B") if isinstance(kw.get(k), str)]
    cols += list(kw.get("column_list", []) or [])
    cols += sorted(_condition_columns(kw.get("row_condition")))
    return list(dict.fromkeys(cols))


def _plain(series: pd.Series) -> pd.Series:
    """Nullable pandas dtypes -> object/float with None/NaN; "" -> None."""
    if pd.api.types.is_datetime64_any_dtype(series) or \
            pd.api.types.is_timedelta64_dtype(series):
        return series
    if isinstance(series.dtype, pd.BooleanDtype) or pd.api.types.is_string_dtype(series) \
            or series.dtype == object:
        out = series.astype(object)
        out.where(out.notna() & (out != ""), None, inplace=True)
        return out
    if isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        return series.astype("float64")
    return series


_CLOCK = re.compile(r"^\d{2}:\d{2}(?::\d{2})?$")
_SECONDS = "__seconds__"


def _seconds(text: Any) -> float:
    """A time of day ("06:30", "06:30:15") or minutes:seconds as seconds, else NaN."""
    if not isinstance(text, str) or not _CLOCK.match(text):
        return np.nan
    parts = [int(p) for p in text.split(":")]
    return float(sum(p * 60 ** (len(parts) - 1 - i) for i, p in enumerate(parts)))


def _kwargs_for(rule: Rule, frame: pd.DataFrame) -> dict[str, Any]:
    """Kwargs as GX compares them: ISO date text as datetimes for a date column; a
    range of times ("06:00" to "22:00", which GX does not take) as seconds, on a
    seconds column the projection adds (`_SECONDS` + column)."""
    kwargs = dict(rule.kwargs)
    column = kwargs.get("column")
    if not isinstance(column, str):
        return kwargs
    if pd.api.types.is_datetime64_any_dtype(frame[column].dtype):
        for key in ("min_value", "max_value"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = pd.Timestamp(kwargs[key]).to_pydatetime()
    elif rule.type == "expect_column_values_to_be_between" and any(
            isinstance(kwargs.get(k), str) and _CLOCK.match(kwargs[k])
            for k in ("min_value", "max_value")):
        kwargs["column"] = _SECONDS + column
        for key in ("min_value", "max_value"):
            if kwargs.get(key) is not None:
                kwargs[key] = _seconds(kwargs[key])
    return kwargs


def _checked_mask(rule: Rule, data: pd.DataFrame, engine: Any) -> np.ndarray:
    """Rows the rule looked at (after its row condition and GX's missing-value rules)."""
    from great_expectations.expectations.row_conditions import deserialize_row_condition

    mask = pd.Series(True, index=data.index)
    cond = rule.kwargs.get("row_condition")
    if cond:
        clause = engine.condition_to_filter_clause(deserialize_row_condition(cond))
        mask &= data.index.isin(data.query(clause).index)
    kw = rule.kwargs
    if rule.type in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null"):
        pass
    elif "column" in kw:
        mask &= data[kw["column"]].notna()
    elif "column_A" in kw:
        a, b = data[kw["column_A"]].notna(), data[kw["column_B"]].notna()
        how = kw.get("ignore_row_if", "both_values_are_missing")
        mask &= (a & b) if how == "either_value_is_missing" else (
            (a | b) if how == "both_values_are_missing" else True)
    elif "column_list" in kw:
        present = data[list(kw["column_list"])].notna()
        how = kw.get("ignore_row_if", "all_values_are_missing")
        mask &= present.all(axis=1) if how == "any_value_is_missing" else (
            present.any(axis=1) if how == "all_values_are_missing" else True)
    return mask.to_numpy(dtype=bool)


def _exception(result: Any) -> str | None:
    info = result.exception_info or {}
    if "raised_exception" in info:
        infos = [info]
    else:
        infos = [v for v in info.values() if isinstance(v, Mapping)]
    for item in infos:
        if item.get("raised_exception"):
            return str(item.get("exception_message") or "expectation raised").splitlines()[0]
    return None


def _run_batch(context: Any, batch_def: Any, data: pd.DataFrame,
               batch: Sequence[tuple[Rule, dict[str, Any]]]) -> dict[str, tuple[Any, str | None]]:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    n = next(_counter)
    expectations = [ExpectationConfiguration(type=rule.type, kwargs=kwargs,
                                             meta={"rule_id": rule.id}).to_domain_obj()
                    for rule, kwargs in batch]
    suite = context.suites.add(gx.ExpectationSuite(name=f"s{n}", expectations=expectations))
    vd = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"v{n}", data=batch_def, suite=suite))
    result = vd.run(batch_parameters={"dataframe": data}, result_format={
        "result_format": "COMPLETE", "unexpected_index_column_names": [_ROW]})
    out = {}
    for res in result.results:
        rule_id = res.expectation_config.meta.get("rule_id")
        rows = [item[_ROW] for item in res.result.get("unexpected_index_list") or []]
        out[rule_id] = (rows, _exception(res))
    return out


def run_rules(frames: Mapping[str, pd.DataFrame], rules: Sequence[Rule]) -> list[Outcome]:
    """Run every rule on its frame with GX; one outcome per rule, errors included.

    A rule whose columns are absent, or that GX cannot evaluate, gets an outcome with
    `error` set; the other rules still run.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import PandasExecutionEngine

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("registry").add_dataframe_asset("frame")
    batch_def = asset.add_batch_definition_whole_dataframe("whole")
    engine = PandasExecutionEngine()
    outcomes: list[Outcome] = []
    by_frame: dict[str, list[Rule]] = {}
    for rule in rules:
        by_frame.setdefault(rule.frame, []).append(rule)
    for name, frame_rules in by_frame.items():
        frame = frames.get(name)
        empty = np.zeros(0, dtype=int)
        if frame is None:
            outcomes += [Outcome(r, empty, np.zeros(0, bool), f"no {name} frame")
                         for r in frame_rules]
            continue
        runnable: list[tuple[Rule, dict[str, Any]]] = []
        for rule in frame_rules:
            missing = [c for c in columns_of(rule) if c not in frame.columns]
            if missing:
                outcomes.append(Outcome(rule, empty, np.zeros(len(frame), bool),
                                        f"column(s) {', '.join(missing)} not in {name}"))
            else:
                runnable.append((rule, _kwargs_for(rule, frame)))
        if not runnable:
            continue
        cols = list(dict.fromkeys(c for r, _ in runnable for c in columns_of(r)))
        data = pd.DataFrame({c: _plain(frame[c]) for c in cols})
        for _, kwargs in runnable:
            seconds = kwargs.get("column")
            if isinstance(seconds, str) and seconds.startswith(_SECONDS):
                data[seconds] = frame[seconds[len(_SECONDS):]].map(_seconds).astype(float)
        data.index = pd.RangeIndex(len(frame))
        data[_ROW] = np.arange(len(frame))
        try:
            found = _run_batch(context, batch_def, data, runnable)
        except Exception:  # isolate the culprit: rerun rule by rule
            found = {}
            for item in runnable:
                try:
                    found.update(_run_batch(context, batch_def, data, [item]))
                except Exception as exc:
                    found[item[0].id] = ([], f"{type(exc).__name__}: {exc}".splitlines()[0])
        for rule, _ in runnable:
            rows, error = found.get(rule.id, ([], "no result returned by GX"))
            try:
                checked = _checked_mask(rule, data, engine)
            except Exception as exc:
                checked, error = np.zeros(len(frame), bool), error or str(exc)
            outcomes.append(Outcome(rule, np.asarray(rows, dtype=int), checked, error))
    return outcomes
