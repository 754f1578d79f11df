"""What changed in a run, per site (its flags) and per study (its numbers), from the store.

A site changed when the run has new (or reopened) flags or flags resolved that night;
a study changed when its results differ from the previous finished run's (the run id
and snapshot ids aside) or it has none before. The sentence goes in the subject and
first line of the e-mail: "3 new flags, 5 resolved, 0 blocking".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry.store import Store
from registry.store.runs import FINISHED_STATUSES

__all__ = ["SiteChange", "StudyChange", "site_change", "study_change"]

_OPEN = ("new", "open", "reopened")
#: parts of a study's results that say which run made them, not what they are
_VOLATILE = ("run_id", "snapshot")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class SiteChange:
    """A site's flags in a run: how many are new, resolved that night, open and blocking."""

    site: str
    new: int
    resolved: int
    open: int
    blocking: int
    #: no earlier finished run checked this site: its first report, sent even if empty
    first: bool = False
    #: records with an open flag
    records: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.new or self.resolved or self.first)

    def summary(self) -> str:
        counts = f"{_plural(self.new, 'new flag')}, {self.resolved} resolved, " \
                 f"{self.blocking} blocking"
        return f"first report, {counts}" if self.first else counts


def site_change(store: Store, run_id: str, site: str) -> SiteChange:
    """The flag counts of `site` in run `run_id` (its own flag set, as the CSV lists it)."""
    new = resolved = opened = blocking = 0
    records: set[str] = set()
    for flag in store.flags(run_id=run_id, site=site):
        status = flag.get("status")
        if status in ("new", "reopened"):
            new += 1
        if status == "resolved" and (flag.get("details") or {}).get("reported", True):
            resolved += 1
        if status in _OPEN:
            opened += 1
            records.add(str(flag.get("record_id")))
            blocking += flag.get("severity") == "blocking"
    this = store.run(run_id)
    first = not any((r.started_at, r.id) < (this.started_at, this.id)
                    and r.status in FINISHED_STATUSES and site in store.flag_sites(r.id)
                    for r in store.runs(limit=200))
    return SiteChange(site, new, resolved, opened, blocking, first, len(records))


@dataclass(frozen=True)
class StudyChange:
    """A study's headline in a run and how it compares with the previous finished run."""

    study: str
    headline: str
    previous_run: str | None
    #: what moved since the previous run ("" when nothing did or there is none)
    moved: str
    changed: bool

    def summary(self) -> str:
        if self.previous_run is None:
            return "first results"
        return f"results changed: {self.moved}" if self.changed else "results unchanged"


def _headline(payload: Any) -> tuple[str, dict[str, Any]]:
    analyses = (payload or {}).get("analyses") or [{}]
    main = analyses[0] if isinstance(analyses[0], dict) else {}
    hr, low, high = main.get("hr"), main.get("ci_low"), main.get("ci_high")
    parts = []
    if isinstance(hr, int | float):
        ci = (f" (95% CI {low:.2f} to {high:.2f})"
              if isinstance(low, int | float) and isinstance(high, int | float) else "")
        parts.append(f"hazard ratio {hr:.2f}{ci}")
    else:
        parts.append("no hazard ratio could be estimated")
    if main.get("n_exposed") is not None:
        parts.append(f"{main['n_exposed']} exposed, {main.get('n_controls')} matched controls, "
                     f"{main.get('events')} events")
    numbers = {k: main.get(k) for k in ("hr", "n_exposed", "n_controls", "events")}
    return ", ".join(parts), numbers


def _previous_with(store: Store, run_id: str, study: str) -> str | None:
    this = store.run(run_id)
    for other in store.runs(limit=200):
        if (other.started_at, other.id) >= (this.started_at, this.id):
            continue
        if other.status in FINISHED_STATUSES and study in store.result_studies(other.id):
            return str(other.id)
    return None


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def study_change(store: Store, run_id: str, study: str, kind: str = "study") -> StudyChange:
    """Run `run_id`'s results of `study` against the previous finished run's."""
    mine = store.result(run_id, study, kind)
    headline, numbers = _headline(mine)
    before_id = _previous_with(store, run_id, study)
    if before_id is None:
        return StudyChange(study, headline, None, "", True)
    before = store.result(before_id, study, kind)

    def stable(payload: Any) -> Any:
        return {k: v for k, v in (payload or {}).items() if k not in _VOLATILE}

    changed = stable(mine) != stable(before)
    _, old = _headline(before)
    labels = {"hr": "hazard ratio", "n_exposed": "exposed", "n_controls": "matched controls",
              "events": "events"}
    moved = "; ".join(f"{labels[k]} {_fmt(old[k])} -> {_fmt(numbers[k])}"
                      for k in labels if old.get(k) != numbers.get(k))
    if changed and not moved:
        moved = "the details (the headline numbers are the same)"
    return StudyChange(study, headline, before_id, moved if changed else "", changed)
