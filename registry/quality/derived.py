"""Rules derived from the REDCap data dictionary at run time, for every form of any project.

For every field of the dictionary (the record id and descriptive fields aside), on the
frame its form lives in (`schema.frame_of(form)`):

    dictionary.<field>.type      a value REDCap's validation refuses (tidy's conformance
                                 frame: 2023-02-30, text in a number, 12 in a
                                 "1 decimal" field, a malformed e-mail or time)
    dictionary.<field>.range     outside the validation min/max (`today`, `now` = the run)
    dictionary.<field>.choices   radio/dropdown code not one of the choices
    dictionary.<field>.required  required field empty where its branching logic shows it
                                 (a checkbox: no box ticked), on events holding its form
    dictionary.<field>.hidden    a value (a ticked box) where the branching logic hides it
    dictionary.<field>.calc      a calculated field whose stored value differs from its
                                 formula recomputed from the fields it reads

Rules keep GX's vocabulary (so they can run through GX as well); the columns they need
are added to the frames by `add_dictionary_columns`: `show__<field>` (the branching
logic, see `registry.quality.branching`), `checked__<field>` (boxes ticked) and
`calc__<field>` (the formula's value). A rule that cannot run (a min that is not a date,
logic that cannot be read, a formula naming a missing field) is listed in `problems`
with the reason, and becomes an `error` result naming the field and the text.

Severities come from `expectations/_dictionary.json` (defaults per check, overrides
per field, `"off"` to skip a check); without that file the defaults below apply.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.errors import SuiteDefinitionError
from registry.fieldtypes import (
    BoundError,
    bounds,
    checkbox_columns,
    choices,
    field_type,
    format_bound,
    validation_of,
)
from registry.quality.branching import RecordEnv, describe, floats, shown
from registry.quality.columns import FrameColumns
from registry.quality.logic import LogicError, Node, evaluate, parse, refs
from registry.quality.prepare import with_columns
from registry.quality.suites import SEVERITIES, Rule
from registry.schema import RegistrySchema
from registry.tidy import key_named

__all__ = [
    "CHECKS",
    "DEFAULT_SEVERITY",
    "DerivedConfig",
    "DerivedRules",
    "add_dictionary_columns",
    "calc_column",
    "checked_column",
    "computed_from",
    "derive_rules",
    "fields_of",
    "load_derived_config",
    "parse_derived_config",
    "show_column",
]

CHECKS = ("type", "range", "choices", "required", "hidden", "calc")
DEFAULT_SEVERITY = {"type": "blocking", "range": "blocking", "choices": "blocking",
                    "required": "warning", "hidden": "warning", "calc": "warning"}
_DIMENSION = {"type": "conformance", "range": "plausibility", "choices": "conformance",
              "required": "completeness", "hidden": "completeness", "calc": "plausibility"}
#: Field types that hold no value (descriptive) or a value REDCap computes (calc).
_NO_ENTRY = ("descriptive", "calc")

DerivedConfig = dict[str, Any]


def show_column(field: str) -> str:
    """Name of the per-row "branching logic shows this field" column."""
    return f"show__{field}"


def checked_column(field: str) -> str:
    """Name of the per-row "boxes ticked" count of a checkbox field."""
    return f"checked__{field}"


def calc_column(field: str) -> str:
    """Name of the per-row "value of the formula" column of a calculated field."""
    return f"calc__{field}"


def load_derived_config(path: str | Path | None) -> DerivedConfig:
    """Read `_dictionary.json` (severities/overrides); missing file -> defaults."""
    if path is None or not Path(path).exists():
        return parse_derived_config({})
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteDefinitionError(f"suite {path}: not valid JSON (line {exc.lineno}: "
                                   f"{exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise SuiteDefinitionError(
            f"suite {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise SuiteDefinitionError(f"suite {path}: cannot be read ({exc.strerror})") from exc
    return parse_derived_config(data, str(path))


def parse_derived_config(data: Any, path: str = "<dictionary overrides>") -> DerivedConfig:
    """Check the parsed `_dictionary.json` and fill in the default severities."""
    config: DerivedConfig = {"defaults": dict(DEFAULT_SEVERITY), "fields": {}}
    allowed = (*SEVERITIES, "off")
    if not isinstance(data, dict) or set(data) - {"defaults", "fields", "notes"}:
        raise SuiteDefinitionError(f"suite {path}: expected keys defaults, fields (notes)")
    for check, sev in (data.get("defaults") or {}).items():
        if check not in CHECKS or sev not in allowed:
            raise SuiteDefinitionError(
                f"suite {path}: defaults.{check} = {sev!r}; checks {', '.join(CHECKS)}, "
                f"values {', '.join(allowed)}")
        config["defaults"][check] = sev
    for fname, checks in (data.get("fields") or {}).items():
        for check, sev in checks.items():
            if check not in CHECKS or sev not in allowed:
                raise SuiteDefinitionError(
                    f"suite {path}: fields.{fname}.{check} = {sev!r}; checks "
                    f"{', '.join(CHECKS)}, values {', '.join(allowed)}")
        config["fields"][fname] = dict(checks)
    return config


def _severity(config: DerivedConfig, field: str, check: str) -> str:
    return str(config["fields"].get(field, {}).get(check, config["defaults"][check]))


def _esc(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _label(meta: Mapping[str, str]) -> str:
    return (meta.get("field_label") or meta["field_name"]).strip() or meta["field_name"]


def _json_bound(value: Any) -> Any:
    """A min/max in plain JSON, as GX reads it: ISO text for dates and times."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    return value


def computed_from(metadata: Sequence[Mapping[str, str]]) -> dict[str, tuple[str, ...]]:
    """Calculated field -> the fields its formula reads (what a coordinator should check)."""
    out: dict[str, tuple[str, ...]] = {}
    names = {m["field_name"] for m in metadata}
    for meta in metadata:
        if meta.get("field_type") != "calc":
            continue
        try:
            node = parse(meta.get("select_choices_or_calculations", ""))
        except LogicError:
            continue
        inputs = []
        for ref in refs(node):
            for part in ref.parts:
                name = part.split("(")[0]
                if name in names and name not in inputs:
                    inputs.append(name)
        out[meta["field_name"]] = tuple(inputs)
    return out


@dataclass(frozen=True)
class DerivedRules:
    """The dictionary's rules, and why some of them cannot run (rule id -> reason)."""

    rules: list[Rule]
    problems: dict[str, str] = field(default_factory=dict)


def _event_condition(schema: RegistrySchema, form: str) -> dict[str, Any] | None:
    """On a longitudinal project: only rows of the events that hold the form."""
    if not schema.longitudinal:
        return None
    events = sorted(schema.events_of(form))
    if not events:
        return None
    return {"type": "comparison", "column": {"name": "event"}, "operator": "IN",
            "parameter": events}


def _and(*conds: dict[str, Any] | None) -> dict[str, Any] | None:
    present = [c for c in conds if c]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"type": "and", "conditions": present}


def _show_is(field: str, value: bool) -> dict[str, Any]:
    return {"type": "comparison", "column": {"name": show_column(field)}, "operator": "==",
            "parameter": value}


def derive_rules(schema: RegistrySchema, *, today: dt.date, now: dt.datetime | None = None,
                 config: DerivedConfig | None = None) -> DerivedRules:
    """The dictionary's rules for every form of the project (see the module docstring).

    The `type` rules are pseudo-rules (type `conformance`): tidy already tried to read
    each value as REDCap would and listed the refusals in its `conformance` frame.
    """
    config = config or load_derived_config(None)
    dictionary = {m["field_name"]: m for m in schema.metadata}
    inputs = computed_from(schema.metadata)
    rules: list[Rule] = []
    problems: dict[str, str] = {}

    def add(meta: Mapping[str, str], check: str, etype: str, kwargs: dict[str, Any],
            message: str, suggestion: str, problem: str | None = None) -> None:
        name = meta["field_name"]
        sev = _severity(config, name, check)
        if sev == "off":
            return
        rule = Rule(id=f"dictionary.{name}.{check}", type=etype, kwargs=kwargs,
                    frame=schema.frame_of(meta["form_name"]), field=name, severity=sev,
                    dimension=_DIMENSION[check], message=message, suggestion=suggestion,
                    suite="dictionary", computed_from=inputs.get(name, ()))
        rules.append(rule)
        clash = key_named(meta)
        if clash:
            problem = (f"field {name} is named like the key column {clash!r} of the tidy "
                       "frames, so it cannot be checked; rename it in REDCap")
        if problem:
            problems[rule.id] = problem

    for meta in schema.metadata:
        name, ftype = meta["field_name"], meta.get("field_type", "")
        if name == schema.id_field or ftype == "descriptive":
            continue
        label = _esc(_label(meta))
        ftype_info = field_type(meta)
        check_inputs = _check_inputs(inputs.get(name, ()), dictionary)
        if ftype_info.kind not in ("free text", "choice", "file"):
            expected = ftype_info.expected
            add(meta, "type", "conformance", {"column": name},
                f"{label} holds '{{value}}', which is not {_esc(expected)}",
                check_inputs or f"Re-enter the value as {expected}.")
        _range_rule(meta, label, add, today, now)
        if ftype in ("radio", "dropdown"):
            labels = list(choices(meta).values())
            add(meta, "choices", "expect_column_values_to_be_in_set",
                {"column": name, "value_set": labels},
                f"{label} holds code '{{{name}}}', not one of the choices "
                f"({_esc(', '.join(labels))})",
                "Pick one of the choices offered in the form.")
        if ftype == "calc":
            _calc_rule(meta, label, add, check_inputs)
            continue
        logic_text = (meta.get("branching_logic") or "").strip()
        shown_when, problem = "", None
        if logic_text:
            try:
                shown_when = _esc(describe(parse(logic_text), dictionary))
            except LogicError as exc:
                shown_when = _esc(logic_text)
                problem = f"branching logic of {name} cannot be read: {logic_text!r} ({exc})"
        events = _event_condition(schema, meta["form_name"])
        column = checked_column(name) if ftype == "checkbox" else name
        if (meta.get("required_field") or "").strip().lower() == "y":
            cond = _and(_show_is(name, True) if logic_text else None, events)
            when = f", but it is needed because {shown_when}" if logic_text else ""
            if ftype == "checkbox":
                add(meta, "required", "expect_column_values_to_be_between",
                    _with(cond, column=column, min_value=1),
                    f"{label}: no box is ticked" + (f", but an answer is needed because "
                                                     f"{shown_when}" if logic_text else ""),
                    "Tick at least one box; the field "
                    "is required.", problem)
            else:
                add(meta, "required", "expect_column_values_to_not_be_null",
                    _with(cond, column=column), f"{label} is empty{when}",
                    "Fill in the field; it is required.", problem)
        if logic_text:
            cond = _and(_show_is(name, False), events)
            what = "has boxes ticked" if ftype == "checkbox" else f"holds {{{name}}}"
            add(meta, "hidden", "expect_column_values_to_be_between" if ftype == "checkbox"
                else "expect_column_values_to_be_null",
                _with(cond, column=column, **({"max_value": 0} if ftype == "checkbox" else {})),
                f"{label} {what} but should be empty: it applies only when {shown_when}",
                "Either clear the value or correct the answer that hides the field.", problem)
    return DerivedRules(rules, problems)


def _with(cond: dict[str, Any] | None, **kwargs: Any) -> dict[str, Any]:
    return {**kwargs, "row_condition": cond} if cond else dict(kwargs)


def _check_inputs(names: Iterable[str], dictionary: Mapping[str, Mapping[str, str]]) -> str:
    labels = [_label(dictionary[n]) for n in names if n in dictionary]
    if not labels:
        return ""
    return (f"REDCap calculates this field: check the fields it is computed from "
            f"({', '.join(labels)}), then save the form so REDCap recalculates it.")


def _range_rule(meta: Mapping[str, str], label: str, add: Any, today: dt.date,
                now: dt.datetime | None) -> None:
    name = meta["field_name"]
    if meta.get("field_type") not in ("text", "slider"):
        return
    if not ((meta.get("text_validation_min") or "").strip()
            or (meta.get("text_validation_max") or "").strip()
            or meta.get("field_type") == "slider"):
        return
    validation = validation_of(meta)
    if validation is None or validation.kind == "text":
        return
    try:
        lo, hi = bounds(meta, today=today, now=now)
    except BoundError as exc:
        add(meta, "range", "expect_column_values_to_be_between", {"column": name},
            f"{label} is {{{name}}}", "Correct the dictionary's min/max of this field.",
            f"the min/max of {name} cannot be read: {exc}")
        return
    lo_text = format_bound(meta, "min", lo) if lo is not None else ""
    hi_text = format_bound(meta, "max", hi) if hi is not None else ""
    bounds_text = (f"between {lo_text} and {hi_text}" if lo_text and hi_text else
                   f"at least {lo_text}" if lo_text else f"at most {hi_text}")
    future = (meta.get("text_validation_max") or "").strip().lower() in ("today", "now")
    suggestion = ("Correct the value; a date in the future is usually a typo (2052 for "
                  "2025)." if future else "Correct the value; check the digits and the unit.")
    add(meta, "range", "expect_column_values_to_be_between",
        {"column": name, "min_value": _json_bound(lo), "max_value": _json_bound(hi)},
        f"{label} is {{{name}}}; it should be {_esc(bounds_text)}", suggestion)


def _calc_rule(meta: Mapping[str, str], label: str, add: Any, check_inputs: str) -> None:
    name = meta["field_name"]
    formula = (meta.get("select_choices_or_calculations") or "").strip()
    problem = None
    try:
        parse(formula)
    except LogicError as exc:
        problem = f"the formula of {name} cannot be read: {formula!r} ({exc})"
    add(meta, "calc", "expect_column_pair_values_to_be_equal",
        {"column_A": name, "column_B": calc_column(name),
         "ignore_row_if": "either_value_is_missing"},
        f"{label} is {{{name}}} but its formula gives {{{calc_column(name)}}}",
        check_inputs or "REDCap calculates this field: save the form so it is recalculated.",
        problem)


# --- the columns the rules read ------------------------------------------------------


def add_dictionary_columns(frames: Mapping[str, pd.DataFrame], schema: RegistrySchema, *,
                           today: dt.date, now: dt.datetime | None = None) -> tuple[
                               dict[str, pd.DataFrame], dict[str, str]]:
    """Add `show__`, `checked__` and `calc__` columns to the frames of their forms.

    Returns the frames and, per field whose logic or formula cannot be evaluated here,
    the reason (its rules then end as `error` results, never silently passed).
    """
    out = dict(frames)
    problems: dict[str, str] = {}
    by_form = {form: out[schema.frame_of(form)] for form in schema.forms
               if schema.frame_of(form) in out}
    dictionary = {m["field_name"]: m for m in schema.metadata}
    envs: dict[str, RecordEnv] = {}
    added: dict[str, dict[str, pd.Series]] = {}
    logic_cache: dict[tuple[str, str], pd.Series] = {}
    series = {form: FrameColumns(frame) for form, frame in by_form.items()}
    for meta in schema.metadata:
        name, form = meta["field_name"], meta["form_name"]
        frame = by_form.get(form)
        if frame is None or name == schema.id_field or key_named(meta):
            continue  # a field named like a key column is not in the frame (tidy.key_named)
        cols = added.setdefault(schema.frame_of(form), {})
        if meta.get("field_type") == "checkbox":
            boxes = [series[form][c] for c in checkbox_columns(meta) if c in series[form]]
            ticked = np.sum([b.to_numpy("float64", na_value=0.0) for b in boxes], axis=0) \
                if boxes else np.zeros(len(frame))
            cols[checked_column(name)] = pd.Series(ticked.astype(int), index=frame.index,
                                                   dtype="Int64")
        text = (meta.get("select_choices_or_calculations") if meta.get("field_type") == "calc"
                else meta.get("branching_logic")) or ""
        text = text.strip()
        if not text:
            continue
        if form not in envs:
            envs[form] = _env(frame, form, by_form, dictionary, schema, today, now)
        try:
            if meta.get("field_type") == "calc":
                cols[calc_column(name)] = _recomputed(parse(text), envs[form],
                                                      series[form].get(name), len(frame))
            else:
                key = (form, text)
                if key not in logic_cache:
                    logic_cache[key] = shown(parse(text), envs[form])
                cols[show_column(name)] = logic_cache[key]
        except LogicError as exc:
            what = "formula" if meta.get("field_type") == "calc" else "branching logic"
            problems[name] = f"{what} of {name} cannot be evaluated: {text!r} ({exc})"
    for frame_name, cols in added.items():
        if cols:
            # the frame's columns shared, not copied: nothing writes into them
            frame = out[frame_name]
            out[frame_name] = (with_columns(frame, *cols.items())
                               if frame.columns.intersection(list(cols)).empty else
                               pd.concat([frame, pd.DataFrame(cols)], axis=1, copy=False))
    return out, problems


def _env(frame: pd.DataFrame, form: str, by_form: Mapping[str, pd.DataFrame],
         dictionary: Mapping[str, Mapping[str, str]], schema: RegistrySchema, today: dt.date,
         now: dt.datetime | None) -> RecordEnv:
    return RecordEnv(frame, form, by_form, dictionary, today=pd.Timestamp(today),
                     now=pd.Timestamp(now) if now else None,
                     events=[(e.unique_name, e.arm) for e in schema.events],
                     repeating=schema.is_repeating,
                     repeating_events=frozenset(schema.repeating_events))


def _recomputed(node: Node, env: RecordEnv, stored_column: pd.Series | None,
                n: int) -> pd.Series:
    """The formula's value per row; the stored value itself where they agree to 1e-6
    (REDCap keeps calc results with their full precision), missing where unknowable."""
    value = evaluate(node, env)
    num = np.where(value.known, value.num, np.nan)
    stored = floats(stored_column) \
        if stored_column is not None else np.full(n, np.nan)
    close = np.isclose(num, stored, rtol=1e-6, atol=1e-6)
    num = np.where(close, stored, num)
    return pd.Series(num, index=env.rows.index, dtype="Float64")


def fields_of(metadata: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """field name -> form name (for flags pointing at another form's field)."""
    return {m["field_name"]: m["form_name"] for m in metadata}
