"""Rules derived from the REDCap data dictionary at run time, never written by hand.

For every field of the dictionary:

    dictionary.<field>.type      value unreadable as its validation type (from tidy's
                                 conformance frame: impossible dates, text in a number)
    dictionary.<field>.range     outside the validation min/max ("today" = run date)
    dictionary.<field>.choices   radio/dropdown value not one of the choices
    dictionary.<field>.required  required field empty (where its branching logic shows it)
    dictionary.<field>.hidden    a value although the branching logic hides the field

Severities come from `expectations/_dictionary.json` (defaults per check, overrides
per field, `"off"` to skip a check); without that file the defaults below apply.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from registry.errors import SuiteDefinitionError
from registry.quality.branching import BranchingError, describe, evaluate, parse
from registry.quality.suites import SEVERITIES, Rule

__all__ = [
    "CHECKS",
    "DEFAULT_SEVERITY",
    "DerivedConfig",
    "add_branching_columns",
    "conformance_failures",
    "derive_rules",
    "fields_of",
    "load_derived_config",
    "parse_derived_config",
    "show_column",
]

CHECKS = ("type", "range", "choices", "required", "hidden")
DEFAULT_SEVERITY = {"type": "blocking", "range": "blocking", "choices": "blocking",
                    "required": "warning", "hidden": "warning"}
_DIMENSION = {"type": "conformance", "range": "plausibility", "choices": "conformance",
              "required": "completeness", "hidden": "completeness"}

DerivedConfig = dict[str, Any]


def show_column(field: str) -> str:
    """Name of the per-row "branching logic shows this field" column."""
    return f"show__{field}"


def load_derived_config(path: str | Path | None) -> DerivedConfig:
    """Read `_dictionary.json` (severities/overrides); missing file -> defaults."""
    if path is None or not Path(path).exists():
        return parse_derived_config({})
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteDefinitionError(f"suite {path}: not valid JSON (line {exc.lineno}: "
                                   f"{exc.msg})") from exc
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


def _choice_labels(meta: Mapping[str, str]) -> list[str]:
    out = []
    for part in meta.get("select_choices_or_calculations", "").split("|"):
        code, sep, label = part.partition(",")
        if sep:
            out.append(label.strip())
    return out


def _esc(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _bound(text: str, validation: str, today: dt.date) -> Any:
    if text == "":
        return None
    if validation.startswith("date"):
        return today.isoformat() if text.strip().lower() == "today" else text
    return float(text)


def derive_rules(metadata: Sequence[Mapping[str, str]], *, today: dt.date,
                 config: DerivedConfig | None = None,
                 form_frames: Mapping[str, str] | None = None) -> list[Rule]:
    """GX rules (range, choices, required, hidden) for every field of the dictionary.

    `form_frames` maps a form to its frame name (`RegistrySchema.frames()` inverted);
    a form it does not list is its own frame.

    The `type` check has no GX rule: tidy already tried to read each value as its type
    and listed the failures in `conformance`; see `conformance_failures`.
    """
    config = config or load_derived_config(None)
    dictionary = {m["field_name"]: m for m in metadata}
    rules: list[Rule] = []

    def add(field: str, check: str, frame: str, etype: str, kwargs: dict[str, Any],
            message: str, suggestion: str) -> None:
        sev = _severity(config, field, check)
        if sev == "off":
            return
        rules.append(Rule(id=f"dictionary.{field}.{check}", type=etype, kwargs=kwargs,
                          frame=frame, field=field, severity=sev, dimension=_DIMENSION[check],
                          message=message, suggestion=suggestion, suite="dictionary"))

    for i, meta in enumerate(metadata):
        field, form, ftype = meta["field_name"], meta["form_name"], meta["field_type"]
        frame = (form_frames or {}).get(form, form)
        if i == 0 or ftype in ("descriptive", "calc", "file"):
            continue  # the record id, calculated and file fields are not entered by hand
        label = _esc(meta.get("field_label") or field)
        validation = meta.get("text_validation_type_or_show_slider_number", "")
        vmin = _bound(meta.get("text_validation_min", ""), validation, today)
        vmax = _bound(meta.get("text_validation_max", ""), validation, today)
        if ftype == "text" and (vmin is not None or vmax is not None) and validation in (
                "date_ymd", "date_dmy", "date_mdy", "integer", "number"):
            lo = "" if vmin is None else str(vmin).removesuffix(".0")
            hi = "" if vmax is None else str(vmax).removesuffix(".0")
            if meta.get("text_validation_max", "").strip().lower() == "today":
                hi = f"today ({hi})"  # "no future dates"
            bounds = (f"between {lo} and {hi}" if lo and hi else
                      f"at least {lo}" if lo else f"at most {hi}")
            add(field, "range", frame, "expect_column_values_to_be_between",
                {"column": field, "min_value": vmin, "max_value": vmax},
                f"{label} is {{{field}}}; it should be {bounds}",
                "Correct the value; dates after today or before the range are typos.")
        if ftype in ("radio", "dropdown"):
            labels = _choice_labels(meta)
            add(field, "choices", frame, "expect_column_values_to_be_in_set",
                {"column": field, "value_set": labels},
                f"{label} holds code '{{{field}}}', not one of the choices "
                f"({_esc(', '.join(labels))})",
                "Pick one of the choices offered in the form.")
        logic_text = meta.get("branching_logic", "").strip()
        shown_when = ""
        if logic_text:
            try:
                shown_when = _esc(describe(parse(logic_text), dictionary))
            except BranchingError:
                shown_when = _esc(logic_text)
        required = meta.get("required_field", "") == "y"
        if ftype == "checkbox":
            continue  # several columns; a ticked box where hidden is not checked (yet)
        if required:
            cond = ({"type": "comparison", "column": {"name": show_column(field)},
                     "operator": "==", "parameter": True} if logic_text else None)
            kwargs: dict[str, Any] = {"column": field}
            if cond:
                kwargs["row_condition"] = cond
            when = f" (required when {shown_when})" if logic_text else ""
            add(field, "required", frame, "expect_column_values_to_not_be_null", kwargs,
                f"{label} is empty{when}", "Fill in the field; it is required.")
        if logic_text:
            add(field, "hidden", frame, "expect_column_values_to_be_null",
                {"column": field, "row_condition": {
                    "type": "comparison", "column": {"name": show_column(field)},
                    "operator": "==", "parameter": False}},
                f"{label} holds {{{field}}} but should be empty: it applies only when "
                f"{shown_when}",
                "Either clear the value or correct the answer that hides the field.")
    return rules


def add_branching_columns(prepared: Mapping[str, pd.DataFrame],
                          metadata: Sequence[Mapping[str, str]],
                          form_frames: Mapping[str, str] | None = None) -> tuple[
                              dict[str, pd.DataFrame], dict[str, str]]:
    """Add a `show__<field>` column per field with branching logic to its frame.

    Returns the frames and, per field whose logic cannot be read here, the reason
    (its required/hidden rules then end as `error` rows, not silently passed).
    """
    dictionary = {m["field_name"]: m for m in metadata}
    frames = dict(prepared)
    problems: dict[str, str] = {}
    added: dict[str, dict[str, pd.Series]] = {}
    for meta in metadata:
        text = meta.get("branching_logic", "").strip()
        frame_name = (form_frames or {}).get(meta["form_name"], meta["form_name"])
        if not text or frame_name not in frames:
            continue
        try:
            shown = evaluate(parse(text), frames[frame_name], dictionary)
        except BranchingError as exc:
            problems[meta["field_name"]] = str(exc)
            continue
        added.setdefault(frame_name, {})[show_column(meta["field_name"])] = shown
    for name, cols in added.items():
        frames[name] = pd.concat([frames[name], pd.DataFrame(cols)], axis=1)
    return frames, problems


def conformance_failures(conformance: pd.DataFrame | None,
                         metadata: Sequence[Mapping[str, str]],
                         config: DerivedConfig | None = None,
                         form_frames: Mapping[str, str] | None = None) -> tuple[
                             list[dict[str, Any]], list[Rule]]:
    """Failure rows (and their rules) for values tidy could not read as their type."""
    config = config or load_derived_config(None)
    dictionary = {m["field_name"]: m for m in metadata}
    rules: dict[str, Rule] = {}
    rows: list[dict[str, Any]] = []
    if conformance is None or conformance.empty:
        return rows, []
    for rec in conformance.to_dict("records"):
        field = str(rec.get("field", ""))
        base = field.split("___")[0]
        meta = dictionary.get(base, {})
        sev = _severity(config, base, "type")
        if sev == "off":
            continue
        validation = meta.get("text_validation_type_or_show_slider_number", "") or \
            meta.get("field_type", "")
        label = meta.get("field_label", field) or field
        rule_id = f"dictionary.{base}.type"
        form = str(meta.get("form_name", rec.get("form", "")))
        frame = (form_frames or {}).get(form, form)
        value = rec.get("value", rec.get("raw", ""))
        expected = {"date_ymd": "a date (YYYY-MM-DD)", "integer": "a whole number",
                    "number": "a number", "yesno": "Yes (1) or No (0)"}.get(
                        validation, f"a {validation} value")
        rules.setdefault(rule_id, Rule(
            id=rule_id, type="conformance", kwargs={"column": base}, frame=frame, field=base,
            severity=sev, dimension="conformance",
            message=f"{_esc(label)} holds '{{value}}', which is not {expected}",
            suggestion="Re-enter the value in the expected format.", suite="dictionary"))
        rows.append({**{k: rec.get(k) for k in ("patient_id", "record_id", "site", "event",
                                                "form", "instance")},
                     "field": base, "rule_id": rule_id, "severity": sev,
                     "message": f"{label} holds '{value}', which is not {expected}"})
    return rows, list(rules.values())


def fields_of(metadata: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """field name -> form name (for flags pointing at another form's field)."""
    return {m["field_name"]: m["form_name"] for m in metadata}
