"""`validate(frames, metadata, suites, site_links=...) -> QualityResult`: the quality stage.

Tidy frames in, flags and per-site rule results out. Steps: add the per-patient
columns cross-form rules need (prepare), evaluate branching logic per row, derive the
dictionary rules, run every GX rule through the adapter (one suite run per frame),
turn the failing rows into flag rows (message, link), add tidy's conformance failures
(values unreadable as their type), and count per site and rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.quality.derived import (
    add_branching_columns,
    conformance_failures,
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
    form_link,
    link_for,
)
from registry.quality.gx_adapter import Outcome, columns_of, run_rules
from registry.quality.prepare import prepare
from registry.quality.suites import Rule, Suite, check_frames, load_suites
from registry.quality.summary import RESULT_COLUMNS, result_row, rule_results
from registry.schema import RegistrySchema, build_schema

__all__ = ["DERIVED_CONFIG_FILE", "QualityResult", "validate"]

#: Severities/overrides of the dictionary-derived rules, in the suites folder.
DERIVED_CONFIG_FILE = "_dictionary.json"


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


def _sites(frames: Mapping[str, pd.DataFrame]) -> list[str]:
    sites: set[str] = set()
    for frame in frames.values():
        if "site" in frame.columns:
            sites |= set(frame["site"].dropna().astype(str))
    return sorted(sites)


def _placeholder_problems(rule: Rule, frame: pd.DataFrame | None) -> str | None:
    if frame is None:
        return None
    missing = [n for n in rule.placeholders if n != "value" and n not in frame.columns]
    return f"message names unknown column(s) {', '.join(missing)}" if missing else None


def _type_results(rules: Sequence[Rule], frames: Mapping[str, pd.DataFrame],
                  conf: pd.DataFrame, sites: Sequence[str]) -> list[dict[str, object]]:
    rows = []
    for rule in rules:
        frame = frames.get(rule.frame)
        for site in sites:
            failed = int(((conf["rule_id"] == rule.id) & (conf["site"] == site)).sum()) \
                if not conf.empty else 0
            present = 0
            if frame is not None and rule.field in frame.columns:
                at = frame["site"].astype(str) == site
                present = int(frame.loc[at, rule.field].notna().sum())
            rows.append(result_row(rule, site, present + failed, failed))
    return rows


def _type_rules(metadata: Sequence[Mapping[str, str]], config: dict,
                form_frames: Mapping[str, str]) -> list[Rule]:
    """Pseudo-rules (no GX) for the type check of each typed field, for the summary."""
    fake = pd.DataFrame([{"field": m["field_name"], "patient_id": "", "record_id": "",
                          "site": "", "event": "", "form": m["form_name"], "instance": None,
                          "value": ""}
                         for m in metadata[1:]
                         if m.get("text_validation_type_or_show_slider_number") in (
                             "date_ymd", "date_dmy", "date_mdy", "integer", "number")
                         or m["field_type"] in ("yesno", "truefalse")])
    return conformance_failures(fake, metadata, config, form_frames)[1] if not fake.empty \
        else []


def _schema_of(frames: Any, schema: RegistrySchema | Sequence[Mapping[str, str]]
               ) -> RegistrySchema:
    if isinstance(schema, RegistrySchema):
        return schema
    if isinstance(getattr(frames, "schema", None), RegistrySchema):
        return frames.schema  # type: ignore[no-any-return]
    return build_schema(schema)


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


def _unavailable_problem(rule: Rule, unavailable: Mapping[str, str]) -> str | None:
    """Why a rule cannot run tonight: a profile column it needs could not be made."""
    for column in (*columns_of(rule), *rule.placeholders):
        if column in unavailable:
            return f"needs column {column!r}: {unavailable[column]}"
    return None


def validate(
    frames: Mapping[str, pd.DataFrame] | Any,
    metadata: RegistrySchema | Sequence[Mapping[str, str]],
    suites: Sequence[Suite] | str | Path | None,
    *,
    site_links: Mapping[str, SiteLink] | SiteLink | None,
    today: dt.date | None = None,
    derived_config: Mapping | None = None,
    sites: Sequence[str] | None = None,
) -> QualityResult:
    """Check one snapshot's tidy frames; every failure becomes one flag row.

    `suites` is a list of loaded suites or the suites folder (then its
    `_dictionary.json` sets the severities of the dictionary-derived rules), or None
    (no domain suites: the dictionary-derived checks only, default severities).
    `site_links` maps each site (or "*") to its REDCap base URL, version and pid.
    `today` bounds "no future dates" (default: the date of the run). `sites`: the
    sites to report rule results for (default: those with rows; a site with no
    records then still gets `not_applicable` rows when named).
    """
    today = today or dt.date.today()
    schema = _schema_of(frames, metadata)
    metadata = list(schema.metadata)
    form_frames = {form: frame for frame, form in schema.frames().items()}
    frames, conformance = _frames_of(frames)
    if suites is None:  # no domain suites: the dictionary-derived checks only
        suites = []
    if isinstance(suites, str | Path):
        config = (parse_derived_config(derived_config) if derived_config is not None
                  else load_derived_config(Path(suites) / DERIVED_CONFIG_FILE))
        suites = load_suites(suites)
    else:
        config = parse_derived_config(derived_config or {})
    check_frames(suites, schema.frames())
    ready = prepare(frames, schema)
    prepared, branching_problems = add_branching_columns(ready.frames, metadata,
                                                         form_frames=form_frames)
    rules = [r for s in suites for r in s.rules]
    rules += derive_rules(metadata, today=today, config=config, form_frames=form_frames)
    sites = sorted(set(sites or ()) | set(_sites(frames)))

    outcomes: list[Outcome] = []
    runnable = []
    for rule in rules:
        problem = _unavailable_problem(rule, ready.unavailable) or _placeholder_problems(
            rule, prepared.get(rule.frame))
        if rule.field in branching_problems and show_column(rule.field) in str(rule.kwargs):
            problem = f"branching logic not understood: {branching_problems[rule.field]}"
        if problem:
            outcomes.append(Outcome(rule, np.zeros(0, int), np.zeros(0, bool), problem))
        else:
            runnable.append(rule)
    outcomes += run_rules(prepared, runnable)
    outcomes.sort(key=lambda o: rules.index(o.rule))

    field_forms = fields_of(metadata)
    repeating = [form for form in schema.forms if schema.is_repeating(form)]
    failures = failures_from_outcomes(prepared, outcomes, field_forms, repeating, site_links,
                                      schema.form_events)
    conf_rows, type_rules = conformance_failures(conformance, metadata, config,
                                                 form_frames=form_frames)
    conf = pd.DataFrame(conf_rows, columns=[c for c in FAILURE_COLUMNS if c != "link"])
    if not conf.empty:
        conf["instance"] = conf["instance"].map(
            lambda v: "" if v is None or pd.isna(v) else str(int(v)))
        conf["event"] = conf["event"].map(lambda v: "" if v is None or pd.isna(v) else str(v))
        conf["link"] = [form_link(link_for(site_links, s), r, f, i, e) for s, r, f, i, e in
                        zip(conf["site"], conf["record_id"], conf["form"], conf["instance"],
                            conf["event"], strict=True)]
        # An unreadable value is not also "missing": keep the type flag only.
        cells = set(zip(conf["record_id"].astype(str), conf["event"], conf["form"],
                        conf["instance"], conf["field"], strict=True))
        if not failures.empty:
            completeness = {r.id for r in rules if r.dimension == "completeness"}
            is_required = failures["rule_id"].isin(completeness)
            same_cell = pd.Series([
                cell in cells for cell in zip(
                    failures["record_id"], failures["event"], failures["form"],
                    failures["instance"], failures["field"], strict=True)],
                index=failures.index, dtype=bool)
            failures = failures[~(is_required & same_cell)]
    failures = pd.concat([failures, conf[FAILURE_COLUMNS]] if not conf.empty else [failures],
                         ignore_index=True)
    failures = failures.sort_values(["site", "record_id", "event", "form", "instance",
                                     "field", "rule_id"], kind="stable").reset_index(drop=True)

    labels = {name: f.label for name, f in schema.fields.items()}
    suggestions = {r.id: r.suggestion for r in rules}
    failures["label"] = [labels.get(str(f), "") for f in failures["field"]]
    failures["suggestion"] = [suggestions.get(str(r), "") for r in failures["rule_id"]]

    results = rule_results(prepared, outcomes, sites)
    # A missing-value failure dropped above (the value was unreadable, flagged as type)
    # is not counted as failed either: result rows agree with the flags.
    flagged = failures.groupby(["site", "rule_id"]).size().to_dict() if len(failures) else {}
    completeness = {r.id for r in rules if r.dimension == "completeness"}
    for row in results:
        if row["status"] != "error" and row["rule_id"] in completeness:
            n = int(flagged.get((row["site"], row["rule_id"]), 0))
            if n != row["failed"]:
                row.update(result_row(next(r for r in rules if r.id == row["rule_id"]),
                                      str(row["site"]), int(row["checked"]), n))  # type: ignore[call-overload]
    all_type_rules = {r.id: r for r in _type_rules(metadata, config, form_frames)}
    all_type_rules.update({r.id: r for r in type_rules})
    results += _type_results(list(all_type_rules.values()), prepared,
                             conf if not conf.empty else pd.DataFrame(), sites)
    rules_out = tuple(rules) + tuple(all_type_rules.values())
    return QualityResult(failures=failures,
                         rule_results=pd.DataFrame(results, columns=RESULT_COLUMNS),
                         rules=rules_out)

