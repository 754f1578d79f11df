"""`validate(frames, schema, suites, site_links=...) -> QualityResult`: the quality stage.

Tidy frames in, flags and per-site rule results out. Steps: add the columns the
registry profile declares (prepare), add the columns the dictionary's rules read
(branching logic per row, boxes ticked, formulas recomputed), derive the dictionary
rules for every form, run every rule (the vectorised engine; `engine="gx"` runs them
through Great Expectations instead), turn the failing rows into flag rows (message,
link), add tidy's conformance failures (values REDCap's validation refuses), and count
per site and rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.quality.conformance import type_failures, type_results
from registry.quality.derived import (
    add_dictionary_columns,
    calc_column,
    checked_column,
    computed_from,
    derive_rules,
    fields_of,
    load_derived_config,
    parse_derived_config,
    show_column,
)
from registry.quality.flags import (
    FAILURE_COLUMNS,
    SiteLink,
    blocking_patients,
    failures_from_outcomes,
)
from registry.quality.gx_adapter import Outcome, columns_of
from registry.quality.involves import column_sources, rule_fields
from registry.quality.prepare import prepare
from registry.quality.suites import Rule, Suite, check_frames, load_suites
from registry.quality.summary import RESULT_COLUMNS, SiteCodes, result_row, rule_results
from registry.schema import RegistrySchema, build_schema

__all__ = ["DERIVED_CONFIG_FILE", "ENGINES", "QualityResult", "validate"]

#: Severities/overrides of the dictionary-derived rules, in the suites folder.
DERIVED_CONFIG_FILE = "_dictionary.json"
#: The implementations a rule can run on: the vectorised engine (default) and GX.
ENGINES = ("vectorised", "gx")


@dataclass(frozen=True)
class QualityResult:
    """Flags and per-site rule results of one validation run."""

    failures: pd.DataFrame
    rule_results: pd.DataFrame
    rules: tuple[Rule, ...]

    def blocking_patients(self) -> set[str]:
        """patient_ids kept out of the analyses (at least one blocking flag)."""
        return blocking_patients(self.failures)

    def summary(self) -> pd.DataFrame:
        """Per site: rules run, rules failed, errors, flags, blocking flags."""
        res = self.rule_results
        if res.empty:
            return pd.DataFrame(columns=["site", "rules", "failed", "errors", "flags",
                                         "blocking"])
        by = res.groupby("site")
        out = pd.DataFrame({
            "rules": by.size(),
            "failed": by["status"].apply(lambda s: int((s == "failed").sum())),
            "errors": by["status"].apply(lambda s: int((s == "error").sum())),
        })
        fl = self.failures.groupby("site")
        out["flags"] = fl.size().reindex(out.index).fillna(0).astype(int)
        blocking = self.failures[self.failures["severity"] == "blocking"].groupby("site").size()
        out["blocking"] = blocking.reindex(out.index).fillna(0).astype(int)
        return out.reset_index()


def _frames_of(frames: Mapping[str, pd.DataFrame] | Any) -> tuple[
        dict[str, pd.DataFrame], pd.DataFrame | None]:
    """Tidy frames by name, and tidy's conformance frame (a `Frames` or a plain mapping
    whose "conformance" entry is the conformance frame)."""
    conformance = getattr(frames, "conformance", None)
    by_name = {k: v for k, v in frames.items()
               if not (conformance is None and k == "conformance")}
    if conformance is None:
        conformance = frames.get("conformance")
    return by_name, conformance


def _schema_of(frames: Any, schema: RegistrySchema | Sequence[Mapping[str, str]],
               by_name: Mapping[str, pd.DataFrame]) -> RegistrySchema:
    """The schema given, the frames' own, or a classic project's: frames named after
    their forms, the forms whose rows carry an instance repeating."""
    if isinstance(schema, RegistrySchema):
        return schema
    if isinstance(getattr(frames, "schema", None), RegistrySchema):
        return frames.schema  # type: ignore[no-any-return]
    repeating = [{"event_name": "", "form_name": name} for name, frame in by_name.items()
                 if "instance" in frame.columns and frame["instance"].notna().any()]
    return build_schema(schema, repeating=repeating)


def _unavailable(rule: Rule, unavailable: Mapping[str, str]) -> str | None:
    """Why a rule cannot run tonight: a profile column it needs could not be made."""
    for column in (*columns_of(rule), *rule.placeholders):
        if column in unavailable:
            return f"needs column {column!r}: {unavailable[column]}"
    return None


def _problem(rule: Rule, frame: pd.DataFrame | None, derived: Mapping[str, str],
             fields: Mapping[str, str], unavailable: Mapping[str, str]) -> str | None:
    """Why a rule cannot run tonight (an `error` result), or None."""
    if rule.id in derived:
        return derived[rule.id]
    needed = _unavailable(rule, unavailable)
    if needed:
        return needed
    if rule.field in fields:
        added = {show_column(rule.field), checked_column(rule.field), calc_column(rule.field)}
        if added & set(columns_of(rule)):
            return fields[rule.field]
    if frame is not None:
        missing = [n for n in rule.placeholders if n != "value" and n not in frame.columns]
        if missing:
            return f"message names unknown column(s) {', '.join(missing)}"
    return None


def _run(engine: str, frames: Mapping[str, pd.DataFrame], rules: Sequence[Rule]) -> \
        list[Outcome]:
    if engine == "gx":
        from registry.quality.gx_adapter import run_rules as run_gx
        return run_gx(frames, rules)
    if engine != "vectorised":
        raise ValueError(f"unknown rule engine {engine!r}; engines: {', '.join(ENGINES)}")
    from registry.quality.engine import run_rules
    return run_rules(frames, rules)


def _without_typed_cells(failures: pd.DataFrame, typed: pd.DataFrame,
                         rules: Sequence[Rule]) -> pd.DataFrame:
    """An unreadable value is not also "missing": drop completeness flags on its cell."""
    if typed.empty or failures.empty:
        return failures
    completeness = {r.id for r in rules if r.dimension == "completeness"}
    key = ["record_id", "event", "form", "instance", "field"]
    # cells as tuples of text, in a set: a few thousand flags, no merge
    cells = set(zip(*(typed[k].astype(str) for k in key), strict=True))
    candidates = np.flatnonzero(failures["rule_id"].isin(completeness).to_numpy())
    rows = failures.iloc[candidates]
    texts = zip(*(rows[k].astype(str) for k in key), strict=True)
    hit = np.fromiter((cell in cells for cell in texts), dtype=bool, count=len(candidates))
    drop = np.zeros(len(failures), dtype=bool)
    drop[candidates[hit]] = True
    return failures[~drop]


def validate(
    frames: Mapping[str, pd.DataFrame] | Any,
    metadata: RegistrySchema | Sequence[Mapping[str, str]],
    suites: Sequence[Suite] | str | Path | None,
    *,
    site_links: Mapping[str, SiteLink] | SiteLink | None,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    derived_config: Mapping | None = None,
    sites: Sequence[str] | None = None,
    engine: str = "vectorised",
) -> QualityResult:
    """Check one snapshot's tidy frames; every failure becomes one flag row.

    `metadata` is the registry schema (`registry.schema.RegistrySchema`), or the bare
    data dictionary (a classic project; the frames' own schema when they carry one).
    `suites` is a list of loaded suites or the suites folder (then its
    `_dictionary.json` sets the severities of the dictionary-derived rules), or None
    (no domain suites: the dictionary-derived checks only, default severities).
    `site_links` maps each site (or "*") to its REDCap base URL, version and pid.
    `today` / `now` bound "no future dates" (default: the date and time of the run).
    `sites`: the sites to report rule results for (default: those with rows; a site
    with no records then still gets `not_applicable` rows when named). `engine`:
    "vectorised" or "gx" (the same rules through Great Expectations).
    """
    today = today or dt.date.today()
    form_frames, conformance = _frames_of(frames)
    schema = _schema_of(frames, metadata, form_frames)
    if suites is None:  # no domain suites: the dictionary-derived checks only
        suites = []
    if isinstance(suites, str | Path):
        config = (parse_derived_config(derived_config) if derived_config is not None
                  else load_derived_config(Path(suites) / DERIVED_CONFIG_FILE))
        suites = load_suites(suites)
    else:
        config = parse_derived_config(derived_config or {})
    check_frames(suites, schema.frames())
    ready = prepare(form_frames, schema)
    prepared, field_problems = add_dictionary_columns(ready.frames, schema, today=today,
                                                      now=now)
    derived = derive_rules(schema, today=today, now=now, config=config)
    # a type rule that cannot be checked (e.g. its field is named like a key column)
    # is an `error` result like any rule, not a conformance count
    type_rules = [r for r in derived.rules if r.type == "conformance"
                  and r.id not in derived.problems]
    rules = [r for s in suites for r in s.rules]
    rules += [r for r in derived.rules if r.type != "conformance" or r.id in derived.problems]
    site_codes = SiteCodes(prepared)  # the same site columns as the tidy frames'
    sites = sorted(set(sites or ()) | site_codes.names())

    outcomes: list[Outcome] = []
    runnable = []
    for rule in rules:
        problem = _problem(rule, prepared.get(rule.frame), derived.problems, field_problems,
                           ready.unavailable)
        if problem:
            outcomes.append(Outcome(rule, np.zeros(0, int), np.zeros(0, bool), problem))
        else:
            runnable.append(rule)
    outcomes += _run(engine, prepared, runnable)
    order = {r.id: i for i, r in enumerate(rules)}
    outcomes.sort(key=lambda o: order[o.rule.id])

    repeating = [f for f in schema.forms if schema.is_repeating(f)]
    failures = failures_from_outcomes(prepared, outcomes, fields_of(schema.metadata),
                                      repeating, site_links, schema.form_events)
    typed = type_failures(conformance, type_rules, site_links)
    failures = _without_typed_cells(failures, typed, rules)
    parts = [f for f in (failures, typed) if not f.empty]
    failures = (pd.concat(parts, ignore_index=True) if parts
                else pd.DataFrame(columns=FAILURE_COLUMNS))
    failures = failures.sort_values(["site", "record_id", "event", "form", "instance",
                                     "field", "rule_id"], kind="stable").reset_index(drop=True)
    labels = {name: f.label for name, f in schema.fields.items()}
    suggestions = {r.id: r.suggestion for r in (*rules, *type_rules)}
    failures["label"] = [labels.get(str(f), "") for f in failures["field"]]
    failures["suggestion"] = [suggestions.get(str(r), "") for r in failures["rule_id"]]
    # a calculated field cannot be typed into: the flag names the fields its formula
    # reads ("=" alone when REDCap's formula could not be read)
    inputs = computed_from(schema.metadata)
    failures["computed_from"] = [" ".join(inputs[str(f)]) or "=" if str(f) in inputs else ""
                                 for f in failures["field"]]
    # the fields each rule reads: one wrong cell shared by many flags is fixed first
    sources = column_sources(schema.profile)
    reads = {r.id: " ".join(rule_fields(r, schema.fields, sources))
             for r in (*rules, *type_rules)}
    failures["involves"] = [reads.get(str(r), "") for r in failures["rule_id"]]

    results = rule_results(prepared, outcomes, sites, site_codes)
    # A missing-value failure dropped above (the value was unreadable, flagged as type)
    # is not counted as failed either: result rows agree with the flags.
    flagged = failures.groupby(["site", "rule_id"]).size().to_dict() if len(failures) else {}
    by_id = {r.id: r for r in rules}
    for row in results:
        rule = by_id[str(row["rule_id"])]
        if row["status"] != "error" and rule.dimension == "completeness":
            n = int(flagged.get((row["site"], row["rule_id"]), 0))
            if n != row["failed"]:
                row.update(result_row(rule, str(row["site"]), int(row["checked"]),  # type: ignore[call-overload]
                                      n))
    results += type_results(type_rules, prepared, typed, schema, sites, site_codes)
    return QualityResult(failures=failures,
                         rule_results=pd.DataFrame(results, columns=RESULT_COLUMNS),
                         rules=tuple(rules) + tuple(type_rules))
