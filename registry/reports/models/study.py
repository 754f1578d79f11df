"""The study report's data: the `<study>.json` numbers and what a PI needs to read them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


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
    pp_ci: str = ""                  # the results table's sentence on the per-protocol CI


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
