"""Expectation suites as data: load, check and dump `expectations/*.json`.

A suite file is a Great Expectations 1.x suite (`{"name", "expectations": [...]}`),
each expectation a GX configuration (`type`, `kwargs`) whose `meta` carries what turns
a failure into a flag a coordinator can act on:

    id          stable rule id, unique across all suites ("icu.discharge_after_admission")
    frame       the frame it runs on (a frame name of the registry schema: the profile's,
                else the form's; checked against the project by `check_frames`)
    field       the field the flag points at ("" = the whole repeat instance)
    severity    "blocking" (record kept out of analyses) or "warning"
    dimension   Kahn dimension: conformance, completeness or plausibility
    message     plain-language template, `{column}` placeholders filled from the row
    suggestion  optional: what the coordinator should check

Loading is strict: an unknown expectation type, an unknown key, a missing meta key,
a template with anything but plain `{name}` placeholders, or kwargs the type does not
take (`KWARGS`, the kwargs of each GX expectation) all raise `SuiteDefinitionError`
naming the file and the rule, never a silently dropped rule. `gx=True` also builds
every rule with GX's own validation (the tests do, for every suite shipped).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.errors import SuiteDefinitionError

__all__ = [
    "DIMENSIONS",
    "KNOWN_TYPES",
    "KWARGS",
    "SEVERITIES",
    "Rule",
    "Suite",
    "check_frames",
    "check_kwargs",
    "check_with_gx",
    "dump_suite",
    "load_suite",
    "load_suites",
    "parse_suite",
    "suite_to_dict",
]

#: Row-level GX expectation types a rule may use (each yields the failing rows).
KNOWN_TYPES: tuple[str, ...] = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_be_unique",
    "expect_column_value_lengths_to_be_between",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_pair_values_to_be_equal",
    "expect_column_pair_values_to_be_in_set",
    "expect_compound_columns_to_be_unique",
    "expect_multicolumn_sum_to_equal",
    "expect_select_column_values_to_be_unique_within_record",
)
_COMMON = {"mostly", "row_condition", "condition_parser", "severity"}
#: Known kwargs per expectation type: (required, optional).
KWARGS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "expect_column_values_to_not_be_null": (frozenset({"column"}), frozenset()),
    "expect_column_values_to_be_null": (frozenset({"column"}), frozenset()),
    "expect_column_values_to_be_in_set": (frozenset({"column", "value_set"}), frozenset()),
    "expect_column_values_to_not_be_in_set": (frozenset({"column", "value_set"}),
                                              frozenset()),
    "expect_column_values_to_be_between": (frozenset({"column"}), frozenset({
        "min_value", "max_value", "strict_min", "strict_max"})),
    "expect_column_values_to_match_regex": (frozenset({"column", "regex"}), frozenset()),
    "expect_column_values_to_not_match_regex": (frozenset({"column", "regex"}),
                                                frozenset()),
    "expect_column_values_to_be_unique": (frozenset({"column"}), frozenset()),
    "expect_column_value_lengths_to_be_between": (frozenset({"column"}), frozenset({
        "min_value", "max_value", "strict_min", "strict_max"})),
    "expect_column_pair_values_a_to_be_greater_than_b": (frozenset({"column_A", "column_B"}),
                                                         frozenset({"or_equal",
                                                                    "ignore_row_if"})),
    "expect_column_pair_values_to_be_equal": (frozenset({"column_A", "column_B"}),
                                              frozenset({"ignore_row_if"})),
    "expect_column_pair_values_to_be_in_set": (frozenset({"column_A", "column_B",
                                                          "value_pairs_set"}),
                                               frozenset({"ignore_row_if"})),
    "expect_compound_columns_to_be_unique": (frozenset({"column_list"}),
                                             frozenset({"ignore_row_if"})),
    "expect_multicolumn_sum_to_equal": (frozenset({"column_list", "sum_total"}),
                                        frozenset({"ignore_row_if"})),
    "expect_select_column_values_to_be_unique_within_record": (frozenset({"column_list"}),
                                                               frozenset({"ignore_row_if"})),
}
_PAIR_IGNORE = ("both_values_are_missing", "either_value_is_missing", "neither")
_MULTI_IGNORE = ("all_values_are_missing", "any_value_is_missing", "never")


def check_kwargs(rule_type: str, kwargs: Mapping[str, Any]) -> str | None:
    """What is wrong with a rule's kwargs for its type, or None."""
    required, optional = KWARGS[rule_type]
    missing = sorted(required - set(kwargs))
    if missing:
        return f"missing kwargs {', '.join(missing)}"
    unknown = sorted(set(kwargs) - required - optional - _COMMON)
    if unknown:
        allowed = sorted(required | optional | _COMMON)
        return f"unknown kwargs {', '.join(unknown)}; {rule_type} takes {', '.join(allowed)}"
    for key in ("column", "column_A", "column_B"):
        if key in kwargs and not isinstance(kwargs[key], str):
            return f"{key} must be a column name"
    if "column_list" in kwargs and not (isinstance(kwargs["column_list"], list | tuple)
                                        and all(isinstance(c, str)
                                                for c in kwargs["column_list"])):
        return "column_list must be a list of column names"
    for key in ("value_set", "value_pairs_set"):
        if key in kwargs and not isinstance(kwargs[key], list | tuple | set | frozenset):
            return f"{key} must be a list"
    how = kwargs.get("ignore_row_if")
    allowed_how = _PAIR_IGNORE if "column_A" in required else _MULTI_IGNORE
    if how is not None and how not in allowed_how:
        return f"ignore_row_if must be one of {', '.join(allowed_how)}"
    if "regex" in kwargs:
        try:
            re.compile(str(kwargs["regex"]))
        except re.error as exc:
            return f"regex does not compile ({exc})"
    mostly = kwargs.get("mostly", 1)
    if not isinstance(mostly, int | float) or not 0 <= mostly <= 1:
        return "mostly must be a number between 0 and 1"
    return None

SEVERITIES: tuple[str, ...] = ("blocking", "warning")
DIMENSIONS: tuple[str, ...] = ("conformance", "completeness", "plausibility")

_REQUIRED_META = ("id", "frame", "field", "severity", "dimension", "message")
_OPTIONAL_META = ("suggestion",)
_ENTRY_KEYS = {"type", "kwargs", "meta"}
_SUITE_KEYS = {"name", "expectations", "meta", "notes"}


@dataclass(frozen=True)
class Rule:
    """One check: a GX expectation plus what a failure means for a coordinator."""

    id: str
    type: str
    kwargs: Mapping[str, Any]
    frame: str
    field: str
    severity: str
    dimension: str
    message: str
    suggestion: str = ""
    suite: str = ""
    #: for a rule on a calculated field: the fields its formula reads (what to check)
    computed_from: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The suite-file entry (GX expectation configuration with our meta)."""
        meta: dict[str, Any] = {
            "id": self.id, "frame": self.frame, "field": self.field,
            "severity": self.severity, "dimension": self.dimension, "message": self.message,
        }
        if self.suggestion:
            meta["suggestion"] = self.suggestion
        return {"type": self.type, "kwargs": dict(self.kwargs), "meta": meta}

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Column names the message template needs."""
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.message) if name)


@dataclass(frozen=True)
class Suite:
    """A named list of rules, as read from one JSON file."""

    name: str
    rules: tuple[Rule, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


def _fail(source: str, rule_id: str, what: str) -> SuiteDefinitionError:
    where = f"{source}, rule {rule_id!r}" if rule_id else source
    return SuiteDefinitionError(f"suite {where}: {what}")


def _check_template(source: str, rule_id: str, template: str) -> None:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise _fail(source, rule_id, f"message template is malformed ({exc})") from exc
    for _, name, spec, conv in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            raise _fail(source, rule_id,
                        f"message placeholder {{{name}}} must be a plain column name, "
                        "like {icu_admit_date}")


def _parse_rule(source: str, suite_name: str, index: int, entry: Any) -> Rule:
    if not isinstance(entry, Mapping):
        raise _fail(source, f"#{index + 1}", "each expectation must be a JSON object")
    meta = entry.get("meta")
    rule_id = str(meta.get("id", "")) if isinstance(meta, Mapping) else ""
    label = rule_id or f"#{index + 1}"
    extra = set(entry) - _ENTRY_KEYS
    if extra:
        raise _fail(source, label, f"unknown keys {sorted(extra)}; allowed: {sorted(_ENTRY_KEYS)}")
    etype = entry.get("type")
    if etype not in KNOWN_TYPES:
        raise _fail(source, label, f"unknown expectation type {etype!r}; known types: "
                    + ", ".join(KNOWN_TYPES))
    kwargs = entry.get("kwargs")
    if not isinstance(kwargs, Mapping):
        raise _fail(source, label, "'kwargs' must be a JSON object")
    problem = check_kwargs(etype, kwargs)
    if problem:
        raise _fail(source, label, f"the rule engine rejects the kwargs: {problem}")
    if not isinstance(meta, Mapping):
        raise _fail(source, label, "'meta' must be a JSON object with " + ", ".join(_REQUIRED_META))
    missing = [k for k in _REQUIRED_META if not isinstance(meta.get(k), str)]
    if missing or not rule_id:
        raise _fail(source, label, f"meta is missing {missing or ['id']} (strings)")
    unknown_meta = set(meta) - set(_REQUIRED_META) - set(_OPTIONAL_META)
    if unknown_meta:
        raise _fail(source, label, f"unknown meta keys {sorted(unknown_meta)}")
    if not meta["frame"].isidentifier():
        raise _fail(source, label, f"meta.frame {meta['frame']!r} is not a frame name")
    if meta["severity"] not in SEVERITIES:
        raise _fail(source, label, f"severity {meta['severity']!r}; use blocking or warning")
    if meta["dimension"] not in DIMENSIONS:
        raise _fail(source, label, f"dimension {meta['dimension']!r}; use "
                    + ", ".join(DIMENSIONS))
    _check_template(source, label, meta["message"])
    return Rule(
        id=rule_id, type=etype, kwargs=dict(kwargs), frame=meta["frame"], field=meta["field"],
        severity=meta["severity"], dimension=meta["dimension"], message=meta["message"],
        suggestion=str(meta.get("suggestion", "")), suite=suite_name,
    )


def check_frames(suites: Iterable[Suite], frames: Iterable[str]) -> None:
    """Refuse a rule whose frame the project does not have (the schema's frame names:
    the registry profile's, else the forms'), naming the file, the rule and the key."""
    known = list(frames)
    for suite in suites:
        for rule in suite.rules:
            if rule.frame not in known:
                raise _fail(suite.source, rule.id, f"meta.frame {rule.frame!r} is not a frame "
                            f"of the project (frames: {', '.join(known)}); a frame is named "
                            "by the registry profile's [frames], else after its form")


def check_with_gx(rules: Iterable[Rule], source: str) -> None:
    """Build every rule as a GX expectation; GX's own validation of kwargs catches typos.

    Counts after building, so a type GX would drop silently is an error too.
    """
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    rules = list(rules)
    built = 0
    for rule in rules:
        try:
            ExpectationConfiguration(type=rule.type, kwargs=dict(rule.kwargs)).to_domain_obj()
        except Exception as exc:  # pydantic / GX errors: report them as ours
            first = str(exc).replace("\n", " ")[:300]
            raise _fail(source, rule.id, f"Great Expectations rejects the kwargs: {first}") \
                from exc
        built += 1
    if built != len(rules):
        raise _fail(source, "", f"{len(rules) - built} expectation(s) were dropped by GX")


def parse_suite(data: Any, source: str = "<suite>", *, gx: bool = False) -> Suite:
    """A Suite from the parsed JSON of one suite file (strictly checked); `gx`: also
    have Great Expectations build every rule."""
    if not isinstance(data, Mapping):
        raise _fail(source, "", "a suite file must hold one JSON object")
    extra = set(data) - _SUITE_KEYS
    if extra:
        raise _fail(source, "", f"unknown keys {sorted(extra)}; allowed: {sorted(_SUITE_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(source, "", "missing 'name'")
    entries = data.get("expectations")
    if not isinstance(entries, list):
        raise _fail(source, "", "'expectations' must be a list")
    rules = tuple(_parse_rule(source, name, i, e) for i, e in enumerate(entries))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise _fail(source, rule.id, "rule id used twice")
        seen.add(rule.id)
    if gx:
        check_with_gx(rules, source)
    meta = data.get("meta") or {}
    return Suite(name=name, rules=rules, meta=dict(meta), source=source)


def load_suite(path: str | Path, *, gx: bool = False) -> Suite:
    """Read and check one suite file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteDefinitionError(f"suite {path}: cannot be read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise SuiteDefinitionError(
            f"suite {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise SuiteDefinitionError(
            f"suite {path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    return parse_suite(data, str(path), gx=gx)


def load_suites(directory: str | Path, *, gx: bool = False) -> list[Suite]:
    """Every `*.json` suite in a folder, in name order; rule ids unique across all.

    Files whose name starts with `_` (e.g. `_dictionary.json`, overrides for the
    dictionary-derived rules) are not suites and are skipped.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SuiteDefinitionError(
            f"suites folder {directory} not found; set [quality] suites in settings.toml"
        )
    suites = [load_suite(p, gx=gx) for p in sorted(directory.glob("*.json"))
              if not p.name.startswith("_")]
    owner: dict[str, str] = {}
    for suite in suites:
        for rule in suite.rules:
            if rule.id in owner:
                raise _fail(suite.source, rule.id, f"rule id also used in {owner[rule.id]}")
            owner[rule.id] = suite.source
    return suites


def suite_to_dict(suite: Suite) -> dict[str, Any]:
    """The JSON object of a suite file (GX suite shape)."""
    out: dict[str, Any] = {"name": suite.name}
    if suite.meta:
        out["meta"] = dict(suite.meta)
    out["expectations"] = [rule.to_dict() for rule in suite.rules]
    return out


def dump_suite(suite: Suite, path: str | Path | None = None) -> str:
    """Serialise a suite as indented JSON; also write it when a path is given."""
    text = json.dumps(suite_to_dict(suite), indent=2, ensure_ascii=False) + "\n"
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
