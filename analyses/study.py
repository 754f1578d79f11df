"""A study as data: parse and validate a study TOML into a frozen `StudySpec`.

The file names frames, columns and labels of the tidy frames (docs/design.md), so a
second study is declared by writing another file, without Python. Any frame name is
accepted here: the registry side checks names against the registry's schema. On a
longitudinal registry a column reference or a variable may name an `event` (its
unique event name): only that event's rows are read. Pure: it takes the TOML *text*;
the registry side reads the file. Every malformed input raises `StudySpecError`
naming the key, what was expected and what was found.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from analyses.errors import StudySpecError

__all__ = [
    "ColumnRef",
    "ExposureSpec",
    "InfectionSpec",
    "StudySpec",
    "Subgroup",
    "VariableSpec",
    "date_word",
    "parse_study",
    "study_from_mapping",
]

#: Columns that matching derives itself and that balance / subgroups may name.
DERIVED = ("index_day",)

Scalar = bool | int | float | str


@dataclass(frozen=True)
class ColumnRef:
    """One column of one tidy frame; `event` (a unique event name) keeps only that
    event's rows, `""` every row (a classic project, or a form on one event only)."""

    frame: str
    column: str
    event: str = ""


@dataclass(frozen=True)
class ExposureSpec:
    """Exposure = the days on which one drug of *every* group is taken at once.

    `groups` holds, per group, the class labels (values of `class_column`) that count.
    The index day is the first day of the overlap, counted from the time origin.
    """

    frame: str
    class_column: str
    start: str
    stop: str
    ongoing: str
    groups: tuple[tuple[str, ...], ...]
    label: str = "Exposed"      # what reports call the exposed arm, e.g. "JAK-CNI"
    event: str = ""             # only this event's rows of `frame` (longitudinal)


@dataclass(frozen=True)
class VariableSpec:
    """A matching / subgroup / balance variable.

    `kind = "baseline"`: the value of `column` in the (one-row-per-patient) `frame`;
    `missing`, if given, stands for a missing value (e.g. `rp_ild` is hidden by
    branching logic when there is no ILD, which means "no RP-ILD"). Otherwise a missing
    value matches nothing.
    `kind = "in_interval"`: True when the day considered (the set's index day) falls in
    one of the patient's `[start, stop]` intervals in `frame`; a missing `stop` means
    the interval lasts to the end of follow-up.
    `kind = "started_by"`: True when one of the patient's intervals in `frame` started
    on or before the day considered (e.g. "admitted to an ICU by the index day").
    Time-dependent kinds are evaluated for each candidate control at the exposed
    patient's index day. `event`, if given, keeps only that event's rows of `frame`.
    """

    name: str
    kind: Literal["baseline", "in_interval", "started_by"]
    frame: str
    column: str = ""
    start: str = ""
    stop: str = ""
    missing: Scalar | None = None   # value standing for a missing baseline value
    event: str = ""
    label: str = ""                 # display name (else the dictionary's field label)


@dataclass(frozen=True)
class Subgroup:
    """A named subset of the matched data: rows whose columns equal `items`."""

    name: str
    items: tuple[tuple[str, Scalar], ...]

    @property
    def filter(self) -> dict[str, Scalar]:
        """The filter as written in `<study>.json`."""
        return dict(self.items)


@dataclass(frozen=True)
class InfectionSpec:
    """Where infections live; `severities` empty = every infection counts."""

    frame: str
    date: str
    severity_column: str = ""
    severities: tuple[str, ...] = ()
    event: str = ""


@dataclass(frozen=True)
class StudySpec:
    """A validated study: everything `run_study` needs besides the frames and a seed."""

    name: str
    title: str
    horizon_days: int
    ratio: int
    reuse_controls: bool
    exclude_severities: tuple[str, ...]
    variance: Literal["robust", "model"]
    seed_repeats: int
    origin: ColumnRef
    censor: ColumnRef
    outcome_dates: tuple[ColumnRef, ...]
    exposure: ExposureSpec
    variables: tuple[VariableSpec, ...]
    matching_exact: tuple[str, ...]
    subgroups: tuple[Subgroup, ...]
    infections: InfectionSpec | None
    balance: tuple[str, ...]
    km_times: tuple[int, ...]
    entry: ColumnRef | None = None   # delayed entry: at risk only from this date
    seed: int = 20250101             # master seed of the matching draws
    outcome_label: str = ""          # the outcome in words, e.g. "death or lung transplant"
    origin_label: str = ""           # day 0 in words, e.g. "diagnosis" or "enrolment"
    pp_bootstrap: int = 100          # bootstrap replicates of the per-protocol CI (0: none)
    #: the bootstrap runs for cohorts of at most this many eligible patients; above, the
    #: per-protocol CI is the model-based one (a little narrow, less so in large
    #: cohorts, and the bootstrap's cost grows with the cohort: benchmarks/RESULTS.md)
    pp_bootstrap_max_patients: int = 5000

    def variable(self, name: str) -> VariableSpec:
        """The declared variable called `name`."""
        for v in self.variables:
            if v.name == name:
                return v
        raise StudySpecError(f"study {self.name!r}: no variable named {name!r}")


def parse_study(text: str, source: str = "<study>") -> StudySpec:
    """Parse a study TOML text; `source` (a path) only names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudySpecError(f"{source}: not valid TOML ({exc}); fix the syntax") from exc
    return study_from_mapping(data, source)


def study_from_mapping(data: Mapping[str, Any], source: str = "<study>") -> StudySpec:
    """Validate an already-parsed study mapping (the TOML's tables)."""
    r = _Reader(source)
    r.known(data, "", ("study", "time", "exposure", "outcome", "variables", "matching",
                       "subgroups", "infections", "balance"))
    st = r.table(data, "study")
    r.known(st, "study", ("name", "title", "horizon_days", "ratio", "reuse_controls",
                          "exclude_severities", "variance", "seed_repeats", "km_times",
                          "seed", "pp_bootstrap", "pp_bootstrap_max_patients"))
    name = r.get(st, "study.name", str)
    horizon = r.get(st, "study.horizon_days", int)
    ratio = r.get(st, "study.ratio", int)
    if horizon <= 0 or ratio <= 0:
        raise StudySpecError(f"{source}: study.horizon_days and study.ratio must be > 0, "
                             f"found {horizon} and {ratio}")
    variance = r.get(st, "study.variance", str, "model")
    if variance not in ("robust", "model"):
        raise StudySpecError(f"{source}: study.variance must be 'robust' or 'model', "
                             f"found {variance!r}")
    km_times = tuple(r.list_of(st, "study.km_times", int, [0, 30, 90, 180, 270, 365]))
    pp_boot = r.get(st, "study.pp_bootstrap", int, 100)
    if pp_boot < 0 or pp_boot == 1:
        raise StudySpecError(f"{source}: study.pp_bootstrap must be 0 (no bootstrap) or at "
                             f"least 2, found {pp_boot}")
    pp_max = r.get(st, "study.pp_bootstrap_max_patients", int, 5000)
    if pp_max < 1:
        raise StudySpecError(f"{source}: study.pp_bootstrap_max_patients must be at least 1, "
                             f"found {pp_max}")

    tm = r.table(data, "time")
    r.known(tm, "time", ("origin", "censor", "entry", "origin_label"))
    origin = r.ref(tm, "time.origin")
    censor = r.ref(tm, "time.censor")
    entry = r.ref(tm, "time.entry") if "entry" in tm else None

    ex = r.table(data, "exposure")
    r.known(ex, "exposure", ("frame", "class_column", "start", "stop", "ongoing", "all_of",
                             "label", "event"))
    groups = ex.get("all_of")
    if (not isinstance(groups, list) or not groups
            or not all(isinstance(g, list) and g and all(isinstance(x, str) for x in g)
                       for g in groups)):
        raise StudySpecError(f"{source}: exposure.all_of must be a non-empty list of "
                             f"non-empty lists of class labels, found {groups!r}")
    exposure = ExposureSpec(
        frame=r.frame(ex, "exposure.frame"), class_column=r.get(ex, "exposure.class_column", str),
        start=r.get(ex, "exposure.start", str), stop=r.get(ex, "exposure.stop", str),
        ongoing=r.get(ex, "exposure.ongoing", str),
        groups=tuple(tuple(g) for g in groups),
        label=r.get(ex, "exposure.label", str, "Exposed"),
        event=r.get(ex, "exposure.event", str, ""))

    oc = r.table(data, "outcome")
    r.known(oc, "outcome", ("frame", "event_dates", "event", "label"))
    oframe = r.frame(oc, "outcome.frame")
    oevent = r.get(oc, "outcome.event", str, "")
    outcome_dates = tuple(ColumnRef(oframe, c, oevent)
                          for c in r.list_of(oc, "outcome.event_dates", str))
    if not outcome_dates:
        raise StudySpecError(f"{source}: outcome.event_dates must name at least one column")

    variables = tuple(_variable(r, v, i) for i, v in enumerate(r.list_of(data, "variables",
                                                                          dict, [])))
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        raise StudySpecError(f"{source}: variable names must be unique, found {names}")
    usable = set(names) | set(DERIVED)

    mt = r.table(data, "matching") if "matching" in data else {}
    r.known(mt, "matching", ("exact",))
    exact = tuple(r.list_of(mt, "matching.exact", str, []))
    for col in exact:
        if col not in names:
            raise StudySpecError(f"{source}: matching.exact names {col!r}, which is not a "
                                 f"declared [[variables]] name (declared: {names})")

    subgroups = []
    for i, sg in enumerate(r.list_of(data, "subgroups", dict, [])):
        r.known(sg, f"subgroups[{i}]", ("name", "filter"))
        flt = r.table(sg, "filter", f"subgroups[{i}].filter")
        for col, val in flt.items():
            if col not in usable:
                raise StudySpecError(f"{source}: subgroups[{i}].filter names {col!r}, not a "
                                     f"declared variable (declared: {sorted(usable)})")
            if not isinstance(val, bool | int | float | str):
                raise StudySpecError(f"{source}: subgroups[{i}].filter.{col} must be a "
                                     f"scalar, found {val!r}")
        subgroups.append(Subgroup(r.get(sg, f"subgroups[{i}].name", str, key="name"),
                                  tuple(flt.items())))

    infections = None
    if "infections" in data:
        inf = r.table(data, "infections")
        r.known(inf, "infections", ("frame", "date", "severity_column", "severities",
                                    "event"))
        infections = InfectionSpec(
            frame=r.frame(inf, "infections.frame"), date=r.get(inf, "infections.date", str),
            severity_column=r.get(inf, "infections.severity_column", str, ""),
            severities=tuple(r.list_of(inf, "infections.severities", str, [])),
            event=r.get(inf, "infections.event", str, ""))

    bl = r.table(data, "balance") if "balance" in data else {}
    r.known(bl, "balance", ("variables",))
    balance = tuple(r.list_of(bl, "balance.variables", str, []))
    for col in balance:
        if col not in usable:
            raise StudySpecError(f"{source}: balance.variables names {col!r}, not a declared "
                                 f"variable (declared: {sorted(usable)})")

    return StudySpec(
        name=name, title=r.get(st, "study.title", str, name), horizon_days=horizon,
        ratio=ratio, reuse_controls=r.get(st, "study.reuse_controls", bool, True),
        exclude_severities=tuple(r.list_of(st, "study.exclude_severities", str, ["blocking"])),
        variance=variance,  # type: ignore[arg-type]
        seed_repeats=r.get(st, "study.seed_repeats", int, 200),
        origin=origin, censor=censor, outcome_dates=outcome_dates, exposure=exposure,
        variables=variables, matching_exact=exact, subgroups=tuple(subgroups),
        infections=infections, balance=balance, km_times=km_times, entry=entry,
        seed=r.get(st, "study.seed", int, 20250101),
        outcome_label=r.get(oc, "outcome.label", str, ""),
        origin_label=r.get(tm, "time.origin_label", str, ""), pp_bootstrap=pp_boot,
        pp_bootstrap_max_patients=pp_max)


def _variable(r: _Reader, v: Mapping[str, Any], i: int) -> VariableSpec:
    where = f"variables[{i}]"
    r.known(v, where, ("name", "kind", "frame", "column", "start", "stop", "missing",
                       "event", "label"))
    label = r.get(v, f"{where}.label", str, "", key="label")
    kind = r.get(v, f"{where}.kind", str, "baseline", key="kind")
    name = r.get(v, f"{where}.name", str, key="name")
    frame = r.frame(v, f"{where}.frame", key="frame")
    event = r.get(v, f"{where}.event", str, "", key="event")
    if kind == "baseline":
        missing = v.get("missing")
        if missing is not None and not isinstance(missing, bool | int | float | str):
            raise StudySpecError(f"{r.source}: {where}.missing must be a scalar, "
                                 f"found {missing!r}")
        return VariableSpec(name, "baseline", frame,
                            column=r.get(v, f"{where}.column", str, name, key="column"),
                            missing=missing, event=event, label=label)
    if kind in ("in_interval", "started_by"):
        return VariableSpec(name, kind, frame,  # type: ignore[arg-type]
                            start=r.get(v, f"{where}.start", str, key="start"),
                            stop=r.get(v, f"{where}.stop", str, "" if kind == "started_by"
                                       else _MISSING, key="stop"), event=event,
                            label=label)
    raise StudySpecError(f"{r.source}: {where}.kind must be 'baseline', 'in_interval' or "
                         f"'started_by', found {kind!r}")


_MISSING = object()


class _Reader:
    """Typed look-ups that fail with the key's dotted path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def known(self, table: Mapping[str, Any], where: str, keys: tuple[str, ...]) -> None:
        extra = sorted(set(table) - set(keys))
        if extra:
            raise StudySpecError(f"{self.source}: unknown key(s) {extra} in "
                                 f"[{where or 'top level'}]; known keys: {list(keys)}")

    def get(self, table: Mapping[str, Any], path: str, typ: type, default: Any = _MISSING,
            key: str | None = None) -> Any:
        k = key or path.rsplit(".", 1)[-1]
        if k not in table:
            if default is _MISSING:
                raise StudySpecError(f"{self.source}: missing required key {path}")
            return default
        val = table[k]
        ok = isinstance(val, typ) and not (typ is int and isinstance(val, bool))
        if not ok:
            raise StudySpecError(f"{self.source}: {path} must be {typ.__name__}, "
                                 f"found {val!r}")
        return val

    def table(self, table: Mapping[str, Any], key: str, path: str | None = None
              ) -> Mapping[str, Any]:
        val = table.get(key)
        if not isinstance(val, dict):
            raise StudySpecError(f"{self.source}: missing or malformed table [{path or key}]")
        return val

    def list_of(self, table: Mapping[str, Any], path: str, typ: type,
                default: list[Any] | None = None) -> list[Any]:
        k = path.rsplit(".", 1)[-1]
        if k not in table:
            if default is None:
                raise StudySpecError(f"{self.source}: missing required key {path}")
            return default
        val = table[k]
        if not isinstance(val, list) or not all(
                isinstance(x, typ) and not (typ is int and isinstance(x, bool)) for x in val):
            raise StudySpecError(f"{self.source}: {path} must be a list of {typ.__name__}, "
                                 f"found {val!r}")
        return val

    def frame(self, table: Mapping[str, Any], path: str, key: str | None = None) -> str:
        """A frame name: any non-empty string (the registry side checks it exists)."""
        f = self.get(table, path, str, key=key)
        if not f.strip():
            raise StudySpecError(f"{self.source}: {path} must name a frame, found {f!r}")
        return str(f)

    def ref(self, table: Mapping[str, Any], path: str) -> ColumnRef:
        k = path.rsplit(".", 1)[-1]
        val = table.get(k)
        if (not isinstance(val, dict) or not {"frame", "column"} <= set(val)
                or not set(val) <= {"frame", "column", "event"}):
            raise StudySpecError(f"{self.source}: {path} must be {{frame = ..., column = ...}} "
                                 f"(and optionally event = ...), found {val!r}")
        return ColumnRef(self.frame(val, f"{path}.frame", key="frame"),
                         self.get(val, f"{path}.column", str, key="column"),
                         self.get(val, f"{path}.event", str, "", key="event"))


_DATE_OF = re.compile(r"^\s*date\s+of\s+(the\s+)?", re.IGNORECASE)


def date_word(column: str, labels: Mapping[str, str]) -> str:
    """What a date column stands for, from its dictionary label ("Date of death" ->
    "death", "Date of the first heart-failure hospitalisation" -> "first heart-failure
    hospitalisation"), else from its name ("death_date" -> "death")."""
    label = labels.get(column, "")
    if label and _DATE_OF.match(label):
        word = _DATE_OF.sub("", label).strip().rstrip(".")
        return word[:1].lower() + word[1:] if word[1:2].islower() or len(word) == 1 else word
    return column.removesuffix("_date").replace("_", " ")
