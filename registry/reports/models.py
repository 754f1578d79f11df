"""What a report says, as plain frozen data: the renderers read these and nothing else.

The models sit between the store (and the quality and analysis stages) and the PDF
templates, so the templates can be built and tested from fixtures while the other
stages evolve, and so a past run's report is rebuilt from exactly what the store holds
for that run (the builders in `registry.reports.from_store` fill these in).

Two documents:

* `SiteReport`: one site's coordinator; the open flags of that site only, with links
  straight to the REDCap form to fix.
* `StudyReport`: the PIs; the `<study>.json` numbers plus everything needed to read
  them (cohort flow, balance, survival curves, forest plot, infections, data quality,
  what changed since the last report, methods).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from registry.quality.lifecycle import OPEN_STATUSES as _LIFECYCLE_OPEN

__all__ = [
    "OPEN_STATUSES",
    "AnalysisRow",
    "BalanceRow",
    "CohortFlow",
    "Flag",
    "KMCurve",
    "MethodsInputs",
    "NightCount",
    "PreviousStudy",
    "Resolution",
    "RuleResult",
    "SeedSpread",
    "SiteQuality",
    "SiteReport",
    "SiteSnapshot",
    "StudyReport",
    "Table",
    "natural_key",
]

Severity = Literal["blocking", "warning"]
FlagStatus = Literal["new", "open", "resolved", "reopened", "accepted"]

#: Flag statuses that still need fixing (a `resolved` flag is shown as fixed).
OPEN_STATUSES: frozenset[str] = frozenset(_LIFECYCLE_OPEN)


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key ordering "2" before "10" and "site-2" before "site-10"."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", text) if part != "")


# ----------------------------------------------------------------------------- site


@dataclass(frozen=True)
class Flag:
    """One failed check on one record, field and rule (a row of `flags-<site>.csv`)."""

    site: str
    record_id: str
    form: str
    instance: int | None
    field: str
    rule_id: str
    severity: Severity
    status: FlagStatus
    first_seen: date | None
    last_seen: date | None
    message: str
    link: str
    event: str = ""        # the unique event name on a longitudinal project
    label: str = ""        # the field's label in the data dictionary
    suggestion: str = ""   # the rule's: what the coordinator should check
    value: str = ""        # the flagged cell, as the message shows it
    #: a calculated field: the fields its formula reads (nobody types into it)
    computed_from: tuple[str, ...] = ()
    #: the fields the rule reads, its own first (one wrong cell may explain many flags)
    involves: tuple[str, ...] = ()

    @property
    def is_calculated(self) -> bool:
        return bool(self.computed_from)

    #: its REDCap DRW query on a site with drw_sync: "open", "closed", "accepted", or ""
    query: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_blocking(self) -> bool:
        return self.severity == "blocking"


@dataclass(frozen=True)
class NightCount:
    """Open flags of one site at the end of one night's run (for the history chart)."""

    night: date
    blocking: int
    warning: int

    @property
    def total(self) -> int:
        return self.blocking + self.warning


@dataclass(frozen=True)
class Resolution:
    """How fast a site's flags get fixed: over the runs of the last `days` days, the
    flags fixed (`resolved`), the median days from first seen to the night fixed, and
    how many flags came back after a fix (`reopened`)."""

    days: int
    resolved: int
    median_days: float | None
    reopened: int

    @property
    def reopen_rate(self) -> float | None:
        return None if not self.resolved else self.reopened / self.resolved


@dataclass(frozen=True)
class SiteReport:
    """Everything one site coordinator's PDF shows, for one run.

    `flags` holds the site's open flags and the ones resolved in this run (a flag of
    another site is refused at render time). `history` is one `NightCount` per past
    night, oldest first, this night included. `previous_run_id`/`previous_time` name
    the run the "new" and "resolved" counts are relative to (None on the first run).
    `stale_note` says why the snapshot is not tonight's (the pull failed), or is None.
    """

    site: str
    site_label: str
    run_id: str
    snapshot_id: str
    snapshot_time: datetime
    n_records: int
    flags: tuple[Flag, ...] = ()
    history: tuple[NightCount, ...] = ()
    previous_run_id: str | None = None
    previous_time: datetime | None = None
    stale_note: str | None = None
    study_title: str = ""   # the REDCap project's title (project info), if known
    #: The project's forms in REDCap's order (from the snapshot's dictionary), and the
    #: labels of forms and events shown as block titles; unknown ones sort after.
    form_order: tuple[str, ...] = ()
    form_labels: Mapping[str, str] = field(default_factory=dict)
    event_labels: Mapping[str, str] = field(default_factory=dict)
    #: The dictionary's field labels and forms (to name a cell to fix first, and the
    #: fields a calculated one is computed from).
    field_labels: Mapping[str, str] = field(default_factory=dict)
    field_forms: Mapping[str, str] = field(default_factory=dict)
    repeating_forms: frozenset[str] = frozenset()
    #: When the run started (how long each open flag has been open); None: the snapshot's.
    run_time: datetime | None = None
    #: Fixes over the last `Resolution.days` days (None: no history asked for).
    resolution: Resolution | None = None

    @property
    def open_flags(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.is_open)

    @property
    def resolved_flags(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.status == "resolved")

    @property
    def n_blocking(self) -> int:
        return sum(1 for f in self.open_flags if f.is_blocking)

    @property
    def n_warning(self) -> int:
        return sum(1 for f in self.open_flags if not f.is_blocking)

    @property
    def n_new(self) -> int:
        """Open flags first raised (or raised again) since the previous report."""
        return sum(1 for f in self.open_flags if f.status in ("new", "reopened"))

    @property
    def n_resolved(self) -> int:
        return len(self.resolved_flags)

    @property
    def records_to_fix(self) -> tuple[str, ...]:
        return tuple(sorted({f.record_id for f in self.open_flags}, key=natural_key))


# ---------------------------------------------------------------------------- study


@dataclass(frozen=True)
class SiteSnapshot:
    """The snapshot a study report used for one site, and whether it is tonight's.

    `taken_at` None: the site has no snapshot at all (its first pull failed), so the
    analyses left it out; the report says so rather than dropping it silently."""

    site: str
    label: str
    snapshot_id: str
    taken_at: datetime | None
    current: bool = True
    note: str | None = None


@dataclass(frozen=True)
class CohortFlow:
    """Counts from the registry down to the matched sets (the cohort-flow diagram).

    `excluded_blocking`: patients left out because a blocking flag makes their data
    unusable; `not_eligible`: left out by the study's eligibility rules; `sets_short`:
    matched sets that found fewer than `k` controls; `exposed_unmatched`: exposed
    patients with no eligible control at all; `exposed_after_end` / `exposed_before_entry`:
    exposed patients in no set because they started on or after their last follow-up /
    before entering the registry.
    """

    registry: int
    excluded_blocking: int
    not_eligible: int
    eligible: int
    exposed: int
    exposed_matched: int
    exposed_unmatched: int
    controls: int
    distinct_controls: int
    k: int
    sets_short: int
    exposed_after_end: int = 0
    exposed_before_entry: int = 0


@dataclass(frozen=True)
class BalanceRow:
    """One baseline characteristic: display values per arm and the SMD (None if n/a)."""

    label: str
    exposed: str
    controls: str
    smd: float | None
    missing: str = ""


@dataclass(frozen=True)
class KMCurve:
    """A Kaplan-Meier step function for one arm and its numbers at risk.

    `times`/`survival` are the step points (time 0, survival 1.0 first); `ci_low`/
    `ci_high` are the pointwise band (may be empty); `at_risk` pairs (time, n) at the
    times printed under the plot.
    """

    arm: str
    times: tuple[float, ...]
    survival: tuple[float, ...]
    at_risk: tuple[tuple[float, int], ...]
    ci_low: tuple[float, ...] = ()
    ci_high: tuple[float, ...] = ()


@dataclass(frozen=True)
class AnalysisRow:
    """One line of the forest plot and of the results table (an entry of `<study>.json`).

    `kind` is "main", "subgroup" or "sensitivity"; `basis` says what a sensitivity
    analysis rests on (all records, censoring at crossover, ...).
    """

    name: str
    label: str
    kind: Literal["main", "subgroup", "sensitivity"]
    n_sets: int
    n_exposed: int
    n_controls: float
    events: float
    hr: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    basis: str | None = None
    not_estimable: str = ""          # why there is no HR ("" when there is one)
    events_exposed: float | None = None
    events_controls: float | None = None
    method: str = ""                 # "combined" (over draws), "one draw", "cohort"
    n_draws: int = 1
    mc_se: float | None = None       # Monte-Carlo SE of log HR (another master seed)
    estimand: str = ""
    variance: str = ""               # the primary CI's: "model", "robust", "bootstrap"
    n_bootstrap: int = 0             # bootstrap replicates behind it (per protocol)

    @classmethod
    def from_json(cls, entry: Mapping[str, Any], *, index: int,
                  label: str | None = None) -> AnalysisRow:
        """Read one entry of `<study>.json`'s `analyses`: first is main, null filter is
        a sensitivity analysis, any other filter a subgroup."""
        filt = entry.get("filter")
        kind: Literal["main", "subgroup", "sensitivity"]
        kind = "main" if index == 0 else ("sensitivity" if filt is None else "subgroup")

        def num(key: str) -> float | None:
            value = entry.get(key)
            return None if value is None else float(value)

        return cls(
            name=str(entry["name"]), label=label or _default_label(entry), kind=kind,
            n_sets=int(entry.get("n_sets", 0)), n_exposed=int(entry.get("n_exposed", 0)),
            n_controls=float(entry.get("n_controls", 0)),
            events=float(entry.get("events", 0)),
            hr=num("hr"), ci_low=num("ci_low"), ci_high=num("ci_high"), p=num("p"),
            basis=entry.get("basis") or None,
            not_estimable=str(entry.get("not_estimable") or ""),
            events_exposed=num("events_exposed"), events_controls=num("events_controls"),
            method=str(entry.get("method") or ""), n_draws=int(entry.get("n_draws") or 1),
            mc_se=num("mc_se"), estimand=str(entry.get("estimand") or ""),
            variance=str(entry.get("variance") or ""),
            n_bootstrap=int(entry.get("n_bootstrap") or 0),
        )


def _default_label(entry: Mapping[str, Any]) -> str:
    if entry.get("label"):
        return str(entry["label"])
    return str(entry["name"]).replace("_", " ").capitalize()


@dataclass(frozen=True)
class SeedSpread:
    """How much the main HR moves when matching is redone with other seeds: the middle
    95% of the re-drawn HRs (2.5th to 97.5th percentile) and their median."""

    n_seeds: int
    hr_low: float
    hr_median: float
    hr_high: float


@dataclass(frozen=True)
class Table:
    """A plain table (e.g. infections): header, rows of display strings, which columns
    hold numbers (right-aligned)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...] = ()
    note: str = ""

    def is_numeric(self, i: int) -> bool:
        return i < len(self.numeric) and self.numeric[i]


@dataclass(frozen=True)
class RuleResult:
    """One rule's result at one site (a DQD-style row)."""

    rule_id: str
    checked: int
    failed: int
    percent: float
    status: str
    severity: str = "warning"
    description: str = ""


@dataclass(frozen=True)
class SiteQuality:
    """One site's data quality in this run: records, open flags, rule results."""

    site: str
    label: str
    records: int
    open_blocking: int
    open_warning: int
    patients_excluded: int
    rules: tuple[RuleResult, ...] = ()

    @property
    def rules_failed(self) -> int:
        return sum(1 for r in self.rules if r.status == "failed")

    @property
    def rules_error(self) -> int:
        return sum(1 for r in self.rules if r.status == "error")


@dataclass(frozen=True)
class PreviousStudy:
    """The last report's numbers, for "what changed since the last report"."""

    run_id: str
    generated_at: datetime
    result: Mapping[str, Any]
    registry_patients: int | None = None


@dataclass(frozen=True)
class MethodsInputs:
    """What the methods paragraph is generated from (the study file, the software)."""

    exposure: str
    comparator: str
    outcome: str
    horizon_days: int
    k: int
    matching: tuple[str, ...]
    time_zero: str
    model: str
    variance: str
    subgroups: tuple[str, ...] = ()
    sensitivity: tuple[str, ...] = ()
    n_seeds: int = 0
    eligibility: str = ""
    versions: Mapping[str, str] = field(default_factory=dict)
    variance_rationale: str = ""     # why the primary CI is the one it is (simulation)
    origin: str = ""                 # day 0 in words ("diagnosis", "enrolment")


@dataclass(frozen=True)
class StudyReport:
    """Everything the PIs' PDF for one study shows, for one run.

    `result` is the `<study>.json` dict as written for this run; `analyses` are its
    entries read as `AnalysisRow`s (main first). `ci_method` names the variance the
    headline CI rests on. `previous` is the last report's, or None on the first.
    """

    study: str
    title: str
    run_id: str
    generated_at: datetime
    snapshot: str
    sites: tuple[SiteSnapshot, ...]
    result: Mapping[str, Any]
    flow: CohortFlow
    analyses: tuple[AnalysisRow, ...]
    ci_method: str
    methods: MethodsInputs
    balance: tuple[BalanceRow, ...] = ()
    km: tuple[KMCurve, ...] = ()
    seed_spread: SeedSpread | None = None
    infections: Table | None = None
    quality: tuple[SiteQuality, ...] = ()
    previous: PreviousStudy | None = None
    exposed_label: str = "Exposed"
    control_label: str = "Matched controls"
    clean_vs_all: Mapping[str, Any] | None = None   # same draws: ratio and verdict
    interaction: tuple[Mapping[str, Any], ...] = ()
    km_table: tuple[Mapping[str, Any], ...] = ()     # KM at fixed days per arm, with CIs
    ph_test: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()

    @property
    def main(self) -> AnalysisRow:
        return self.analyses[0]

    @property
    def subgroups(self) -> tuple[AnalysisRow, ...]:
        return tuple(a for a in self.analyses if a.kind == "subgroup")

    @property
    def sensitivity(self) -> tuple[AnalysisRow, ...]:
        return tuple(a for a in self.analyses if a.kind == "sensitivity")
