"""From tidy frames to one row per patient on the study's time axis.

Time is counted in whole days from the origin (diagnosis). For each patient:
`end_day` is the first outcome date if any (death or lung transplant), else the
censoring date (last follow-up); `event` says which. `exposure_day` is the index day
of the combination (NaN if never exposed). Declared variables come along: baseline
ones as columns, interval ones (e.g. ICU stays) as day intervals evaluated later at
each set's index day. Patients that cannot be placed in time are left out and counted.

Delayed entry (`[time] entry`): a patient is at risk only from its entry day
(`entry_day`, days from the origin, 0 if entry precedes the origin); a patient with no
entry date, or whose follow-up ends on or before entry, cannot be placed and is left
out (counted). Without it every patient is at risk from the origin (`entry_day` 0).
A reference with an `event` reads only that event's rows (longitudinal registries).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analyses.errors import StudyDataError
from analyses.exposure import index_days
from analyses.study import ColumnRef, StudySpec

__all__ = ["Cohort", "build_cohort", "frame_of", "get_frame"]


@dataclass(frozen=True)
class Cohort:
    """One row per usable patient (`table`, indexed by patient_id) plus interval variables.

    `table` columns: record_id, site, end_day, event, origin (date), entry_day,
    exposure_day, then each baseline variable. `intervals[name]` holds patient_id,
    start, stop (days; stop may be inf).
    `flow` counts patients at each step; `notes` are sentences for the report.
    """

    table: pd.DataFrame
    intervals: Mapping[str, pd.DataFrame]
    flow: Mapping[str, int]
    notes: tuple[str, ...] = field(default=())

    def value_at(self, name: str, day: float) -> pd.Series:
        """Per patient: the time-dependent variable `name` on `day` (False if no interval)."""
        iv = self.intervals[name]
        hit = iv.loc[(iv["start"] <= day) & (day <= iv["stop"]), "patient_id"]
        return pd.Series(self.table.index.isin(hit.unique()), index=self.table.index)


def get_frame(frames: Any, name: str, event: str = "") -> pd.DataFrame:
    """A tidy frame by name from a mapping or an object with attributes (registry Frames);
    with `event`, only that event's rows."""
    frame = frames.get(name) if isinstance(frames, Mapping) else getattr(frames, name, None)
    if not isinstance(frame, pd.DataFrame):
        given = (sorted(k for k, v in frames.items() if isinstance(v, pd.DataFrame))
                 if isinstance(frames, Mapping) else [])
        raise StudyDataError(f"no tidy frame {name!r} given to the study"
                             + (f"; frames given: {given}" if given else ""))
    if "patient_id" not in frame.columns:
        raise StudyDataError(f"tidy frame {name!r} has no patient_id column")
    if event:
        if "event" not in frame.columns:
            raise StudyDataError(f"the study reads event {event!r} of frame {name!r}, which "
                                 "has no event column (not a longitudinal project)")
        frame = frame[frame["event"].astype(str) == event]
    return frame


def frame_of(frames: Any, ref: ColumnRef) -> pd.DataFrame:
    """The rows a column reference reads (its frame, restricted to its event)."""
    return get_frame(frames, ref.frame, ref.event)


def _days(dates: pd.Series, origin: pd.Series) -> pd.Series:
    return (pd.to_datetime(dates) - pd.to_datetime(origin)).dt.days.astype(float)


def _one_per_patient(frame: pd.DataFrame, name: str, cols: list[str]) -> pd.DataFrame:
    """One row per patient: the row itself, or (several rows per patient, e.g. a form on
    several events with no event named) each column's first non-missing value."""
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise StudyDataError(f"tidy frame {name!r} lacks column(s) {missing} named by the "
                             f"study file; check the study against the data dictionary")
    if frame["patient_id"].duplicated().any():
        return frame.groupby("patient_id", sort=False)[cols].first()
    return frame.set_index("patient_id")[cols]


def build_cohort(spec: StudySpec, frames: Any,
                 excluded: Collection[str] = frozenset()) -> Cohort:
    """Place every patient on the time axis; leave out `excluded` patient_ids (gating)."""
    patients = frame_of(frames, spec.origin)     # the registry's patients: the origin's frame
    ids = patients["patient_id"].drop_duplicates()
    flow: dict[str, int] = {"registry": int(ids.size)}
    keep = ids[~ids.isin(set(excluded))]
    flow["excluded_flags"] = int(ids.size - keep.size)
    notes: list[str] = []

    base = _one_per_patient(frame_of(frames, spec.origin), spec.origin.frame,
                            [spec.origin.column]).reindex(keep)
    origin = pd.to_datetime(base[spec.origin.column])
    flow["no_origin"] = int(origin.isna().sum())
    origin = origin.dropna()

    oc_cols = sorted({r.column for r in spec.outcome_dates})
    out = _one_per_patient(frame_of(frames, spec.outcome_dates[0]),
                           spec.outcome_dates[0].frame, oc_cols).reindex(origin.index)
    cen = _one_per_patient(frame_of(frames, spec.censor), spec.censor.frame,
                           [spec.censor.column]).reindex(origin.index)
    ev_days = pd.concat([_days(out[c], origin) for c in oc_cols], axis=1).min(axis=1)
    cen_days = _days(cen[spec.censor.column], origin)
    event = ev_days.notna()
    end = ev_days.where(event, cen_days)
    usable = end.notna() & (end >= 0)
    flow["no_follow_up"] = int((~usable).sum())
    if int((end < 0).sum()):
        notes.append(f"{int((end < 0).sum())} patient(s) whose follow-up ends before the "
                     f"origin were left out.")
    entry_day = pd.Series(0.0, index=origin.index)
    if spec.entry is not None:
        ent = _one_per_patient(frame_of(frames, spec.entry), spec.entry.frame,
                               [spec.entry.column]).reindex(origin.index)
        entry_day = _days(ent[spec.entry.column], origin).clip(lower=0.0)
        no_entry = usable & entry_day.isna()
        late = usable & entry_day.notna() & (end <= entry_day)
        flow["no_entry"] = int(no_entry.sum())
        flow["ends_before_entry"] = int(late.sum())
        usable &= ~no_entry & ~late
        for n, what in ((flow["no_entry"], "without an entry date"),
                        (flow["ends_before_entry"], "whose follow-up ends on or before "
                                                    "their entry")):
            if n:
                notes.append(f"{n} patient(s) {what} were left out (delayed entry).")
    origin = origin[usable]
    flow["eligible"] = int(origin.size)

    pinfo = patients.drop_duplicates("patient_id").set_index("patient_id")
    table = pd.DataFrame({
        "record_id": pinfo["record_id"].reindex(origin.index).astype(str),
        "site": pinfo["site"].reindex(origin.index).astype(str),
        "end_day": end[usable].astype(float),
        "event": event[usable].astype(bool),
        "origin": origin,
        "entry_day": entry_day[usable].astype(float),
    }, index=origin.index)
    table.index.name = "patient_id"

    exp = index_days(get_frame(frames, spec.exposure.frame, spec.exposure.event),
                     spec.exposure, origin)
    table["exposure_day"] = exp.days.reindex(table.index).astype(float)
    flow["exposed"] = int(table["exposure_day"].notna().sum())
    for n, what in ((exp.rows_without_start, "exposure-drug row(s) without a start date"),
                    (exp.rows_stop_before_start, "exposure-drug row(s) stopping before they "
                                                 "start"),
                    (exp.started_before_origin, "patient(s) on the combination before the "
                                                "origin (index day set to 0)")):
        if n:
            notes.append(f"{n} {what}.")

    intervals: dict[str, pd.DataFrame] = {}
    for v in spec.variables:
        if v.kind == "baseline":
            col = _one_per_patient(get_frame(frames, v.frame, v.event), v.frame,
                                   [v.column])[v.column]
            col = col.reindex(table.index)
            table[v.name] = col if v.missing is None else col.fillna(v.missing)
        else:
            fr = get_frame(frames, v.frame, v.event)
            missing = [c for c in (v.start, v.stop) if c and c not in fr.columns]
            if missing:
                raise StudyDataError(f"tidy frame {v.frame!r} lacks column(s) {missing} named "
                                     f"by variable {v.name!r}")
            fr = fr[fr["patient_id"].isin(table.index) & fr[v.start].notna()]
            o = fr["patient_id"].map(origin)
            # started_by = an interval from the start to forever
            stop = (_days(fr[v.stop], o) if v.kind == "in_interval"
                    else pd.Series(math.inf, index=fr.index))
            intervals[v.name] = pd.DataFrame({
                "patient_id": fr["patient_id"].to_numpy(),
                "start": _days(fr[v.start], o).to_numpy(),
                "stop": np.where(stop.isna(), math.inf, stop),
            })
    return Cohort(table=table, intervals=intervals, flow=flow, notes=tuple(notes))
