"""Flat REDCap rows -> one typed data frame per form, plus what could not be read.

REDCap's flat export mixes every form in one wide table of strings: on a classic
project one base row per record (the non-repeating forms) and one row per repeat
instance; on a longitudinal project one row per record and event (and per instance of
a repeating form or event). `tidy` splits it into one frame per form, named as the
schema names it (`RegistrySchema.frame_of`: the profile's frame names, else the
form's), keyed by `KEY_COLUMNS`: `patient_id` ("<site>:<record_id>", unique even where
each site is its own REDCap project, so record ids collide), `record_id`, `site`,
`event` (the unique event name, "" on a classic project), `arm` (Int64, NA on
classic), `form` and `instance` (Int64, NA when not repeating). Only the events that
hold a form give it rows, so a check never runs where the form is not designated.
Every field gets the dtype its data-dictionary row implies (`registry.fieldtypes`).
A value that cannot be read as its type becomes missing and leaves one row in
`conformance`, so the quality stage can flag it instead of it vanishing.

Everything is vectorised: the columns sharing a parser (a validation, a choice list) are
read in one call: 250,000 rows tidy in a few seconds, and a 5,184-field project pays the
per-call overhead once per kind of column, not once per column.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from registry.fieldtypes import (
    FieldType,
    blank_cells,
    checkbox_columns,
    choice_labels,
    choices,
    field_type,
)
from registry.schema import RegistrySchema, build_schema

__all__ = [
    "CONFORMANCE_COLUMNS",
    "KEY_COLUMNS",
    "Frames",
    "column_values",
    "empty_frame",
    "key_named",
    "tidy",
]

#: The key columns every frame starts with.
KEY_COLUMNS = ("patient_id", "record_id", "site", "event", "arm", "form", "instance")
#: One row per value that could not be read as its field's type.
CONFORMANCE_COLUMNS = (*KEY_COLUMNS, "field", "value", "dtype", "reason")
_KEY_DTYPES = {"arm": "Int64", "instance": "Int64"}
#: The parser-group key of the choice fields, whatever their lists (`_form_frame`).
_CHOICE = object()


def key_named(row: Mapping[str, str]) -> str:
    """The key column a dictionary field's export column is named like (REDCap allows
    a field called `site` or `instance`), else `""`. Such a field is left out of the
    frames, which the key column keeps; its rules are `error` results saying why."""
    return next((c for c in checkbox_columns(row) or [row["field_name"]] if c in KEY_COLUMNS),
                "")


def empty_frame(columns: Sequence[str] = KEY_COLUMNS) -> pd.DataFrame:
    """An empty frame with the key dtypes (strings, Int64 arm and instance)."""
    return pd.DataFrame({c: pd.Series(dtype=_KEY_DTYPES.get(c, "string")) for c in columns})


class Frames(Mapping[str, pd.DataFrame]):
    """The tidy frames of one registry snapshot, by frame name.

    A mapping frame name -> frame (every form of the dictionary has one, possibly
    empty), plus `conformance` (columns `CONFORMANCE_COLUMNS`), the `schema` they were
    made with and `forms` (form name -> frame). Frames are also attributes
    (`frames.patients`) where the name allows.
    """

    __slots__ = ("_by_name", "conformance", "schema")

    def __init__(self, by_name: Mapping[str, pd.DataFrame], conformance: pd.DataFrame,
                 schema: RegistrySchema) -> None:
        self._by_name = dict(by_name)
        self.conformance = conformance
        self.schema = schema

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._by_name[name]
        except KeyError:
            raise AttributeError(f"no frame {name!r} (frames: {', '.join(self._by_name)})") \
                from None

    @property
    def forms(self) -> dict[str, pd.DataFrame]:
        """Form name -> its frame."""
        return {form: self._by_name[frame] for frame, form in self.schema.frames().items()}

    def frame_of_form(self, form: str) -> pd.DataFrame:
        return self._by_name[self.schema.frame_of(form)]


def _raw_frame(rows_by_site: Mapping[str, Sequence[Mapping[str, object]] | pd.DataFrame]
               ) -> pd.DataFrame:
    parts = []
    for site, rows in rows_by_site.items():
        if isinstance(rows, pd.DataFrame):  # already a table (`snapshot_frames`)
            if len(rows):
                parts.append(rows.assign(__site=site))
            continue
        if not rows:
            continue
        keys = tuple(rows[0])
        if all(len(r) == len(keys) and tuple(r) == keys for r in rows):
            # REDCap rows share one key order: a plain 2-D object array is much faster.
            values = np.array([tuple(r.values()) for r in rows], dtype=object)
            part = pd.DataFrame(values, columns=list(keys))
        else:
            part = pd.DataFrame.from_records(list(rows))
        part["__site"] = site
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["__site"])
    return pd.concat(parts, ignore_index=True, sort=False)


def _as_str(col: pd.Series) -> pd.Series:
    """Id-like column (str, int, float from a CSV reader) to strings, "" for missing."""
    if pd.api.types.is_float_dtype(col.dtype):
        col = col.astype("Int64")
    s = col.astype(object)
    empty = s.isna()
    return s.where(empty, s.astype(str)).where(~empty, "").astype("string")


def _empty_conformance() -> pd.DataFrame:
    return empty_frame(CONFORMANCE_COLUMNS)


def _form_mask(keys: pd.DataFrame, schema: RegistrySchema, form: str,
               seen_instruments: Collection[str]) -> tuple[np.ndarray, bool]:
    """Rows of the flat export that hold `form`, and whether the form repeats."""
    instrument, event = keys["instrument"], keys["event"]
    held = schema.events_of(form)
    on_event = event.isin(held) if held else pd.Series(True, index=keys.index)
    if not schema.longitudinal:
        repeating = schema.is_repeating(form) or form in seen_instruments
        mask = (instrument == form) if repeating else (instrument == "")
        return mask.to_numpy(dtype=bool), repeating
    as_instrument = set(schema.repeating_instrument_events(form))
    if form in seen_instruments:  # repeat rows seen on events the setup does not list
        as_instrument |= set(event[instrument == form].unique())
    by_instrument = event.isin(as_instrument)
    mask = on_event & (((instrument == form) & by_instrument)
                       | ((instrument == "") & ~by_instrument))
    repeating = bool(as_instrument) or any(e in schema.repeating_events for e in held)
    return mask.to_numpy(dtype=bool), repeating


def _form_frame(
    raw: pd.DataFrame, keys: pd.DataFrame, form: str, fields: list[Mapping[str, str]],
    mask: np.ndarray, drop_empty: bool,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """One form's typed frame and its conformance rows, from the matching raw rows."""
    n = int(mask.sum())
    k = keys.loc[mask]
    index = k.index
    # The columns that share a parser (a validation, a choice list, yes/no...) are
    # parsed in one call on their values stacked end to end: a parser is elementwise, and
    # a 5,000-field project has 5,000+ columns of a few dozen kinds, where each call costs
    # ~1 ms whatever the row count.
    # Choice fields (radio, dropdown) often each have a list of their own: they are one
    # group, read by `choice_labels` with each column's list.
    groups: dict[tuple[Any, str], list[tuple[str, FieldType, bool, Mapping[str, str]]]] = {}
    columns: list[str] = []  # the dictionary's order
    for row in fields:
        ftype = field_type(row)
        box = row["field_type"] == "checkbox"
        key = (_CHOICE if ftype.kind == "choice" else ftype.parse, ftype.dtype)
        for col in checkbox_columns(row) or [row["field_name"]]:
            groups.setdefault(key, []).append((col, ftype, box, row))
            columns.append(col)
    # the form's columns of the matching rows, read out of the (wide) raw frame once
    held = list(dict.fromkeys(c for members in groups.values() for c, *_ in members
                              if c in raw.columns))
    block = raw.loc[mask, held].to_numpy(dtype=object) if held else None
    positions = {c: i for i, c in enumerate(held)}
    nonblank = np.zeros(n, dtype=bool)
    # per group: its columns and their typed values end to end (the group's order)
    typed_groups: list[tuple[list[str], Any]] = []
    # per column with unreadable values: (rows, column, values, dtype, reason)
    bad: list[tuple[np.ndarray, str, np.ndarray, str, str]] = []
    for (parse, dtype), members in groups.items():
        cells = np.full((n, len(members)), None, dtype=object)
        present = [(j, positions[c]) for j, (c, *_) in enumerate(members) if c in positions]
        if present and block is not None:
            cells[:, [j for j, _ in present]] = block[:, [p for _, p in present]]
        flat = cells.ravel(order="F")
        boxes = np.array([box for _, _, box, _ in members])
        if (~boxes).any():
            nonblank |= ~blank_cells(cells[:, ~boxes]).all(axis=1)
        if boxes.any():
            nonblank |= (cells[:, boxes].astype(str) == "1").any(axis=1)
        if parse is _CHOICE:  # a code outside the choices is kept (a rule flags it)
            labels = choice_labels(cells, [choices(row) for *_, row in members])
            typed = pd.Series(labels.ravel(order="F"), dtype=object).astype("string")
            refused = np.zeros(len(flat), dtype=bool)
        else:
            typed, unreadable = parse(pd.Series(flat, dtype=object))
            refused = unreadable.to_numpy(dtype=bool, na_value=False)
        wanted = pd.api.types.pandas_dtype(dtype)
        typed_groups.append(([col for col, *_ in members],
                             column_values(typed if typed.dtype == wanted
                                            else typed.astype(wanted))))
        for j, (col, ftype, _, _) in enumerate(members):
            where = np.flatnonzero(refused[j * n:(j + 1) * n])
            if len(where):
                bad.append((where, col, cells[where, j], ftype.dtype, ftype.reason))
    # the rows kept: those with a value, when empty rows are dropped
    rows = np.flatnonzero(nonblank) if drop_empty else np.arange(n)
    m = len(rows)
    # Each column is a slice of its group's values, taken (the kept rows of every
    # member) in one call per group: a frame built from arrays, not from a Series per
    # column (a 5,000-field project's forms cost seconds of pandas' per-column work).
    arrays: dict[str, Any] = {}
    for names, values in typed_groups:
        if m < n:
            values = values.take((np.arange(len(names))[:, None] * n + rows).ravel())
        for j, col in enumerate(names):
            arrays[col] = values[j * m:(j + 1) * m]
    order = {col: i for i, col in enumerate(dict.fromkeys(columns))}
    bad.sort(key=lambda b: order[b[1]])  # the dictionary's order, as per column
    problems: list[pd.DataFrame] = []
    if bad:  # one conformance frame per form, built once
        where, names_bad, values_bad, dtypes, reasons = zip(*bad, strict=True)
        counts = [len(w) for w in where]
        p = k.iloc[np.concatenate(where)][["patient_id", "record_id", "site", "event", "arm",
                                           "instance"]]
        p.insert(5, "form", form)
        p["field"] = np.repeat(np.array(names_bad, dtype=object), counts)
        p["value"] = [str(v) for v in np.concatenate(values_bad)]
        p["dtype"] = np.repeat(np.array(dtypes, dtype=object), counts)
        p["reason"] = np.repeat(np.array(reasons, dtype=object), counts)
        if m < n:
            p = p.loc[p.index.isin(index[rows])]
        problems.append(p)
    kept = k.iloc[rows] if m < n else k
    head = {
        "patient_id": kept["patient_id"].astype("string").array,
        "record_id": kept["record_id"].astype("string").array,
        "site": kept["site"].astype("string").array,
        "event": kept["event"].astype("string").array,
        "arm": kept["arm"].array,
        "form": pd.array([form] * m, dtype="string"),
        "instance": kept["instance"].array,
    }
    frame = pd.DataFrame({**head, **{col: arrays[col] for col in order}}, copy=False)
    return frame, problems


def column_values(column: pd.Series) -> Any:
    """A Series' values as a frame column holds them, shared, not copied: its extension
    array, or the NumPy array of a NumPy dtype (float64, datetime64). For reading, or
    for building a frame from arrays without pandas' per-Series work."""
    values = column.array
    return values.to_numpy() if isinstance(values.dtype, np.dtype) else values


def _keys(raw: pd.DataFrame, schema: RegistrySchema) -> pd.DataFrame:
    id_field = schema.id_field
    keys = pd.DataFrame(index=raw.index)
    keys["site"] = _as_str(raw["__site"]) if len(raw) else pd.Series(dtype="string")
    keys["record_id"] = (_as_str(raw[id_field]) if id_field in raw.columns
                         else pd.Series("", index=raw.index, dtype="string"))
    keys["patient_id"] = keys["site"] + ":" + keys["record_id"]
    blank = pd.Series("", index=raw.index, dtype="string")
    instr = raw.get("redcap_repeat_instrument")
    keys["instrument"] = _as_str(instr) if instr is not None else blank
    ev = raw.get("redcap_event_name")
    keys["event"] = _as_str(ev) if ev is not None else blank
    arm_of = {e.unique_name: e.arm for e in schema.events if e.arm is not None}
    keys["arm"] = keys["event"].map(arm_of).astype("Float64").astype("Int64") if arm_of \
        else pd.Series(pd.NA, index=raw.index, dtype="Int64")
    inst = raw.get("redcap_repeat_instance")
    keys["instance"] = (pd.to_numeric(inst.astype(object).mask(inst == ""),
                                      errors="coerce").astype("Float64").astype("Int64")
                        if inst is not None
                        else pd.Series(pd.NA, index=raw.index, dtype="Int64"))
    return keys


def tidy(
    rows_by_site: Mapping[str, Sequence[Mapping[str, object]] | pd.DataFrame],
    schema: RegistrySchema | Sequence[Mapping[str, Any]],
    repeating: Collection[str] | None = None,
) -> Frames:
    """Split flat REDCap rows (per site) into typed frames, one per form, by frame name.

    `rows_by_site` maps a site name to its flat export rows (dicts of strings, `""`
    empty; `redcap_repeat_instance` may be an int or a string), or to a data frame of
    them (`registry.snapshot_frames`). `schema` is the
    project's `RegistrySchema`; a bare data dictionary is taken as a classic project
    without a profile whose repeating forms are `repeating` (plus any form seen as a
    `redcap_repeat_instrument`). Rows of a form whose every field is empty are dropped,
    except on a classic project's non-repeating forms (one row per record, as on the
    record's home page); `<form>_complete` columns are not kept.
    """
    if not isinstance(schema, RegistrySchema):
        schema = build_schema(schema, repeating=[{"form_name": f} for f in repeating or ()])
    raw = _raw_frame(rows_by_site)
    keys = _keys(raw, schema)
    seen = set(keys["instrument"].unique()) - {""}
    by_form: dict[str, list[Mapping[str, str]]] = {form: [] for form in schema.forms}
    for row in schema.metadata:
        if row["field_name"] != schema.id_field and row.get("field_type") != "descriptive" \
                and not key_named(row):
            by_form[row["form_name"]].append(row)
    frames: dict[str, pd.DataFrame] = {}
    problems: list[pd.DataFrame] = []
    for frame_name, form in schema.frames().items():
        mask, repeating_form = _form_mask(keys, schema, form, seen)
        drop_empty = repeating_form or schema.longitudinal
        frames[frame_name], probs = _form_frame(raw, keys, form, by_form[form], mask,
                                                drop_empty)
        problems.extend(probs)
    conformance = (pd.concat(problems, ignore_index=True).astype(
        {c: _KEY_DTYPES.get(c, "string") for c in CONFORMANCE_COLUMNS})
        if problems else _empty_conformance())
    return Frames(frames, conformance, schema)

