"""The injection's shared state: the ground-truth row, the cells already changed or
referenced (so errors never overlap), and the dates every kind reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import numpy as np

ERROR_KINDS: tuple[str, ...] = (
    "icu_discharge_before_admission", "treatment_before_diagnosis",
    "treatment_stop_before_start", "infection_after_death", "future_date", "impossible_date",
    "implausible_age", "icu_ever_no_with_stay", "ventilation_outside_icu",
    "infection_missing_date", "unknown_code", "missing_required", "branching_shown_empty",
    "branching_hidden_filled", "out_of_range", "duplicate_instance",
    "severity_not_hospitalised",
)
EXPOSURE_CLASSES = ("1", "2")  # JAK inhibitor, calcineurin inhibitor: left intact
DAYS_PER_YEAR = 365.2425

Row = dict[str, str]
Cell = tuple[str, str, str, str]


class TruthRow(NamedTuple):
    """One injected error: the cell to flag (`instance` "" on a non-repeating form)."""

    record_id: str
    form: str
    instance: str
    field: str
    error_kind: str


@dataclass
class Context:
    rng: np.random.Generator
    as_of: date
    form_of: dict[str, str]
    base: dict[str, Row]
    rows: list[Row]
    repeat: dict[tuple[str, str], list[Row]]
    changed: set[Cell] = field(default_factory=set)
    used: set[Cell] = field(default_factory=set)
    truth: list[TruthRow] = field(default_factory=list)

    def cell(self, row: Row, name: str) -> Cell:
        form = row["redcap_repeat_instrument"]
        if not form:
            return (row["record_id"], self.form_of[name], "", name)
        return (row["record_id"], form, str(row["redcap_repeat_instance"]), name)

    def commit(self, kind: str, changes: Sequence[tuple[Row, str, str]],
               refs: Sequence[tuple[Row, str]] = ()) -> bool:
        """Apply `changes` unless they clash with an earlier injection."""
        ch = [self.cell(r, f) for r, f, _ in changes]
        rf = {self.cell(r, f) for r, f in refs}
        if any(c in self.used for c in ch) or rf & self.changed:
            return False
        before = [row[name] for row, name, _ in changes]
        for row, name, value in changes:
            row[name] = value
        if any(self._looks_duplicated(row) for row, _, _ in changes):
            for (row, name, _), old in zip(changes, before, strict=True):
                row[name] = old
            return False
        for c in ch:
            self.truth.append(TruthRow(*c, kind))
        self.changed.update(ch)
        self.used.update(ch)
        self.used.update(rf)
        return True

    def _looks_duplicated(self, row: Row) -> bool:
        """Would `row` now equal another instance of its record and form?"""
        form = row["redcap_repeat_instrument"]
        if not form:
            return False
        key = {k: v for k, v in row.items() if k != "redcap_repeat_instance"}
        return any(other is not row and key == {
            k: v for k, v in other.items() if k != "redcap_repeat_instance"}
            for other in self.repeat.get((row["record_id"], form), []))

    def int_(self, lo: int, hi: int) -> int:
        """A uniform integer in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))


def as_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def data_end(ctx: Context, rid: str) -> date:
    """Last day the patient's data may cover: death, else last follow-up."""
    b = ctx.base[rid]
    return as_date(b["death_date"]) or as_date(b["last_fu_date"]) or ctx.as_of


def age_years(birth: date, dx: date) -> int:
    return int((dx - birth).days // DAYS_PER_YEAR)
