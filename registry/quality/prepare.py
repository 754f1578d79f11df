"""Cross-form columns the domain rules need, declared in the registry profile.

A rule sees one frame at a time, so "a treatment starts on or after the diagnosis"
needs the diagnosis date on every treatment row. The profile's `[columns]` declare
those columns as data, with a few generic kinds (docs/design.md, "The registry
profile"); `prepare()` computes them and returns one frame per tidy frame, each row
still keyed by `KEY_COLUMNS` so a failure points at one form instance (of one event).

Patient-level kinds (value, first_of, latest, earliest, count, any, years_between)
give one value per patient, joined onto every frame (or the frames in `on`) that lacks
a column of that name; row-level kinds (is_last, previous, in_episode_at,
duplicate_of) give one value per row of their frame.

A declared column that cannot be computed on a night (its field is not in tonight's
dictionary, or depends on such a column) is *not* added: it is listed in
`Prepared.unavailable` with the reason, and every rule that needs it is an `error`
result naming that reason (never a silently empty column, never `not_applicable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from registry.profile import ColumnSpec, Profile
from registry.quality.columns import column_arrays
from registry.quality.rowcodes import (
    first_of_group,
    first_per_group,
    group_codes,
    neighbours,
)
from registry.schema import RegistrySchema
from registry.tidy import KEY_COLUMNS

__all__ = ["KEYS", "Prepared", "prepare", "with_columns"]

KEYS = list(KEY_COLUMNS)


@dataclass(frozen=True)
class Prepared:
    """The frames rules run on, and the declared columns that could not be made."""

    frames: dict[str, pd.DataFrame]
    unavailable: dict[str, str] = field(default_factory=dict)   # column -> why
    added: dict[str, tuple[str, ...]] = field(default_factory=dict)  # frame -> columns


class _Unavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Builder:
    """Computes the profile's columns over one snapshot's tidy frames."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], schema: RegistrySchema,
                 profile: Profile) -> None:
        self.tidy = frames
        self.schema = schema
        self.profile = profile
        named = [(name, f["patient_id"]) for name, f in frames.items() if "patient_id" in f]
        # every row's patient as a position in the table, hashed once for all frames: the
        # patient-level columns and their joins are then integer work (rowcodes)
        codes, patients = (_factorize_ids([s for _, s in named]) if named
                           else pd.factorize(pd.Series(dtype="string")))
        self.table = pd.DataFrame(index=pd.Index(patients, name="patient_id"))
        ends = np.cumsum([len(s) for _, s in named])
        self.patients = {name: codes[end - len(s):end]
                         for (name, s), end in zip(named, ends, strict=True)}
        self.unavailable: dict[str, str] = {}

    def patients_of(self, name: str) -> np.ndarray:
        """Each row's position in `table` (-1: no patient_id) of tidy frame `name`."""
        if name not in self.patients:
            raise KeyError("patient_id")  # as a groupby or join on the column would
        return self.patients[name]

    def where(self, col: ColumnSpec) -> str:
        return f"registry profile {self.profile.source}: columns.{col.name}"

    def frame(self, col: ColumnSpec, name: str) -> pd.DataFrame:
        if name not in self.tidy:
            raise _Unavailable(f"{self.where(col)}: no frame {name!r} tonight")
        return self.tidy[name]

    def needs(self, col: ColumnSpec, frame: pd.DataFrame, frame_name: str,
              *names: str) -> None:
        for name in names:
            if name in self.unavailable:
                raise _Unavailable(self.unavailable[name])
            if name not in frame.columns:
                raise _Unavailable(f"{self.where(col)}: column {name!r} is not in frame "
                                   f"{frame_name!r} (not in tonight's data dictionary?)")

    # --- patient-level --------------------------------------------------------------
    def source_rows(self, col: ColumnSpec) -> tuple[pd.DataFrame, str, np.ndarray]:
        ref = self.profile.source_of(col)
        assert ref is not None  # parse_profile guarantees a role or a field
        what = f"role {col.role!r} = field {ref.field!r}" if col.role else \
            f"field {ref.field!r}"
        info = self.schema.fields.get(ref.field)
        if info is None:
            raise _Unavailable(f"{self.where(col)}: {what} is not in the data dictionary")
        frame_name = self.schema.frame_of(info.form)
        frame = self.frame(col, frame_name)
        self.needs(col, frame, frame_name, ref.field)
        event = ref.event
        patient = self.profile.patient
        if not event and patient is not None and patient.form == info.form:
            event = patient.event
        patients = self.patients_of(frame_name)
        if event:
            keep = (frame["event"] == event).to_numpy(bool, na_value=False)
            frame, patients = frame[keep], patients[keep]
        return frame, ref.field, patients

    def patient_column(self, col: ColumnSpec) -> pd.Series:
        ids = self.table.index
        if col.kind == "value":  # the patient's first non-missing value, in row order
            rows, name, patients = self.source_rows(col)
            values = rows[name]
            first = first_per_group(patients, values.notna().to_numpy(bool), len(ids))
            return pd.Series(values.array.take(first, allow_fill=True), index=ids).astype(
                values.dtype)
        if col.kind in ("latest", "earliest"):
            rows, name, _ = self.source_rows(col)
            grouped = rows.groupby("patient_id", sort=False)[name]
            how = {"latest": "max", "earliest": "min"}[col.kind]
            out = getattr(grouped, how)()
            return out.reindex(ids).astype(rows[name].dtype)
        if col.kind == "first_of":
            for name in col.columns:
                if name in self.unavailable:
                    raise _Unavailable(self.unavailable[name])
            out = self.table[col.columns[0]]
            for name in col.columns[1:]:
                out = out.fillna(self.table[name])
            return out
        if col.kind in ("count", "any"):
            rows = self.frame(col, col.frame)
            patients = self.patients_of(col.frame)
            if col.event:
                patients = patients[(rows["event"] == col.event).to_numpy(
                    bool, na_value=False)]
            counts = np.bincount(patients[patients >= 0], minlength=len(ids))
            n = pd.Series(pd.array(counts, dtype="Int64"), index=ids)
            return n if col.kind == "count" else (n > 0).astype("boolean")
        if col.kind == "years_between":
            for name in (col.from_, col.to):
                if name in self.unavailable:
                    raise _Unavailable(self.unavailable[name])
            days = (_dates(self.table[col.to]) - _dates(self.table[col.from_])).dt.days
            return (days / 365.25).astype("Float64").round(col.digits)
        raise AssertionError(col.kind)

    # --- row-level ------------------------------------------------------------------
    def row_column(self, col: ColumnSpec, frames: dict[str, pd.DataFrame]) -> None:
        if col.kind == "duplicate_of":
            targets = col.frames or tuple(
                frame for frame, form in self.schema.frames().items()
                if self.schema.is_repeating(form))
            for name in targets:
                base = self.frame(col, name)
                frames[name] = with_columns(frames[name], (col.name, _duplicates(
                    base, self.patients_of(name)).to_numpy()))
            return
        frame = frames[col.frame] if col.frame in frames else self.frame(col, col.frame)
        if col.kind in ("is_last", "previous"):
            self.needs(col, frame, col.frame, col.order_by,
                       *((col.column,) if col.kind == "previous" else ()))
            # the patient's rows by order_by, then instance (a sort and a groupby shift)
            previous, following = neighbours(self.patients_of(col.frame),
                                             frame[col.order_by], frame["instance"])
            if col.kind == "is_last":  # no next row, or a next row without an instance
                values = pd.Series(frame["instance"].array.take(
                    following, allow_fill=True).isna(), index=frame.index, dtype="boolean")
            else:
                values = pd.Series(frame[col.column].array.take(previous, allow_fill=True),
                                   index=frame.index)
            frames[col.frame] = with_columns(frame, (col.name, values))
            return
        if col.kind == "in_episode_at":
            episodes = self.frame(col, col.episodes)
            self.needs(col, frame, col.frame, col.at)
            self.needs(col, episodes, col.episodes, col.start, col.end)
            frames[col.frame] = with_columns(frame, (col.name, _in_episode_at(
                frame, col.at, episodes, col.start, col.end,
                (self.patients_of(col.frame), self.patients_of(col.episodes)))))
            return
        raise AssertionError(col.kind)


def _factorize_ids(ids: list[pd.Series]) -> tuple[np.ndarray, Any]:
    """Codes of every row's patient_id over all frames, and the distinct patient_ids.

    Text columns are factorized as the ndarray behind them (a StringArray's own
    factorize first copies and scans it for NA: twice the time), the distinct values
    made text of the columns' dtype again.
    """
    if len({s.dtype for s in ids}) == 1 and all(
            isinstance(s.array, pd.arrays.NumpyExtensionArray) for s in ids):
        codes, uniques = pd.factorize(np.concatenate([np.asarray(s.array) for s in ids]))
        return codes, pd.Index(uniques, dtype=ids[0].dtype)
    return pd.factorize(pd.concat(ids, ignore_index=True))


def _dates(column: pd.Series) -> pd.Series:
    """The column as dates: itself when it holds dates already (`to_datetime` would
    still walk a sample of its values, one Timestamp each, to decide on a cache)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return column
    return pd.to_datetime(column)


def with_columns(frame: pd.DataFrame, *columns: tuple[str, Any]) -> pd.DataFrame:
    """The frame with more columns (name, values); its own columns shared, not copied.

    `assign` copies every column of the frame for each column added (wide frames, ~10
    added columns), and a concat (or setting columns one by one) stacks same-typed
    columns into 2-D blocks, another copy. Nothing in the quality stage writes into a
    frame's columns, so the frames rules run on may share them with the tidy frames.
    """
    if frame.columns.has_duplicates:  # not a tidy frame's; as out[name] = values does
        out = frame.copy(deep=False)
        for name, values in columns:
            out[name] = values
        return out
    arrays = dict(zip(frame.columns, column_arrays(frame), strict=True))
    for name, values in columns:  # a column named again keeps its place, as out[name]
        arrays[name] = values.array if isinstance(values, pd.Series) else values
    return pd.DataFrame(arrays, index=frame.index, copy=False)


def _duplicates(frame: pd.DataFrame, patients: np.ndarray | None = None) -> pd.Series:
    """The earliest instance (same patient and event) whose every field equals the row's.

    "Earliest" is in instance order (a missing instance last, ties in row order). Rows
    become one integer each (`group_codes`: equal values, and missing values, share a
    code), so finding the groups is integer work with no sort of the text columns: only
    the instance numbers are sorted, since the order between groups does not matter.
    `patients`: the rows' patient_ids as integer codes, when the caller has them.
    """
    fields = [c for c in frame.columns if c not in KEYS]
    if frame.empty or not fields:
        return pd.Series(pd.NA, index=frame.index, dtype="Int64")
    instance = frame["instance"].astype("Int64")
    order = np.argsort(instance.to_numpy("int64", na_value=np.iinfo(np.int64).max),
                       kind="stable")
    patient = frame["patient_id"] if patients is None else pd.Series(patients)
    codes = group_codes([patient, *(frame[c] for c in ["event", *fields])])
    earliest = np.empty(len(frame), dtype=np.int64)  # per row: its group's earliest row
    earliest[order] = order[first_of_group(pd.factorize(codes[order])[0])]
    found = instance.array[earliest]
    found[earliest == np.arange(len(frame))] = pd.NA  # the first of its group: no earlier
    return pd.Series(found, index=frame.index, dtype="Int64")


def _in_episode_at(frame: pd.DataFrame, at: str, episodes: pd.DataFrame, start: str,
                   end: str, patients: tuple[np.ndarray, np.ndarray]) -> pd.Series:
    """Whether the patient was inside one of their episodes on the row's date `at`.

    NA when the episodes do not allow to tell: an episode without a start, or without
    an end while it is not the patient's last (an open last episode lasts on).
    `patients`: the patient codes of the frame's and of the episodes' rows (-1 for a
    missing patient_id, which matches another missing one, as in a merge on the text).
    """
    result = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    if frame.empty:
        return result
    known = frame[at].notna()
    result[known] = False
    if episodes.empty:
        return result
    row_patients, stay_patients = patients
    _, following = neighbours(stay_patients, episodes[start], episodes["instance"])
    is_last = episodes["instance"].array.take(following, allow_fill=True).isna()
    stays = pd.DataFrame({"__patient": stay_patients, start: episodes[start].array,
                          end: episodes[end].array})
    bad = (stays[start].isna() | (stays[end].isna() & ~is_last)).to_numpy(bool)
    unknowable = np.isin(row_patients, stay_patients[bad])
    mask = known.to_numpy(bool)
    values = result.array.copy()
    dates = [frame[at].array, episodes[start].array, episodes[end].array]
    if all(d.dtype == "datetime64[ns]" for d in dates):
        when, starts, ends = (np.asarray(d) for d in dates)
        values[_inside(np.flatnonzero(mask), row_patients, when, starts, ends,
                       stay_patients)] = True
    else:
        rows = pd.DataFrame({"__row": np.flatnonzero(mask),
                             "__patient": row_patients[mask], at: frame[at].array[mask]})
        merged = rows.merge(stays, on="__patient", how="inner")
        inside = (merged[start] <= merged[at]) & (
            merged[end].isna() | (merged[at] <= merged[end]))
        values[merged.loc[inside.fillna(False), "__row"].unique()] = True
    values[unknowable] = pd.NA
    return pd.Series(values, index=frame.index, dtype="boolean")


def _inside(rows: np.ndarray, row_patients: np.ndarray, at: np.ndarray, start: np.ndarray,
            end: np.ndarray, stay_patients: np.ndarray) -> np.ndarray:
    """Those of `rows` whose date `at` lies inside one of their patient's stays (start <=
    at, and at <= end or no end), dates as datetime64, a row once per stay it is in:
    every (row, stay of the same patient) pair from the stays grouped by patient code,
    instead of a merge (NaT compares False, as NA does)."""
    order = np.argsort(stay_patients, kind="stable")  # the stays, patient by patient
    size = int(max(row_patients.max(initial=-1), stay_patients.max(initial=-1))) + 2
    per_patient = np.bincount(stay_patients + 1, minlength=size)  # code -1 counted at 0
    first_of = np.cumsum(per_patient) - per_patient
    patients = row_patients[rows] + 1
    first, counts = first_of[patients], per_patient[patients]
    pair_rows = np.repeat(rows, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    pair_stays = order[np.repeat(first, counts) + offsets]
    when = at[pair_rows]
    ends = end[pair_stays]
    inside = (start[pair_stays] <= when) & (np.isnat(ends) | (when <= ends))
    return pair_rows[inside]


def prepare(frames: Mapping[str, pd.DataFrame], schema: RegistrySchema) -> Prepared:
    """Tidy frames -> the frames rules run on, with the profile's columns added.

    Without a profile (or without `[columns]`) the frames are returned as they are:
    the dictionary-derived rules need no cross-form column.
    """
    out = {name: frame for name, frame in frames.items()}
    profile = schema.profile
    if profile is None or not profile.columns:
        return Prepared(out)
    b = _Builder(frames, schema, profile)
    patient_cols: list[ColumnSpec] = []
    for col in profile.columns:
        if not col.patient_level:
            continue
        try:
            b.table[col.name] = b.patient_column(col)
            patient_cols.append(col)
        except _Unavailable as exc:
            b.unavailable[col.name] = exc.reason
    added: dict[str, list[str]] = {name: [] for name in out}
    for name, frame in out.items():
        names = [c.name for c in patient_cols
                 if c.name not in frame.columns and (not c.on or name in c.on)]
        if names:  # a left join on patient_id, by the rows' positions in the table
            at = b.patients_of(name)
            out[name] = with_columns(frame, *((c, b.table[c].array.take(at, allow_fill=True))
                                       for c in names))
            added[name] += names
    for col in profile.columns:
        if col.patient_level:
            continue
        try:
            before = {n: set(f.columns) for n, f in out.items()}
            b.row_column(col, out)
            for n, f in out.items():
                added[n] += [c for c in f.columns if c not in before[n]]
        except _Unavailable as exc:
            b.unavailable[col.name] = exc.reason
    return Prepared(out, dict(b.unavailable), {n: tuple(c) for n, c in added.items() if c})
