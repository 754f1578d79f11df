"""Flat REDCap rows -> one typed data frame per form, plus what could not be read.

REDCap's flat export mixes every form in one wide table of strings: one base row per
record (the non-repeating forms) and one row per repeat instance (the repeating
forms, everything else empty). `tidy` splits it into one frame per form, keyed by
`patient_id` ("<site>:<record_id>", unique even where each site is its own REDCap
project, so record ids collide), `record_id`, `site`, `form` and `instance`, and gives
every field the dtype its data-dictionary row implies (`registry.fieldtypes`). A value
that cannot be read as its type becomes missing and leaves one row in `conformance`,
so the quality stage can flag it instead of it vanishing.

Everything is vectorised per column: 250,000 rows tidy in a few seconds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from registry.fieldtypes import checkbox_columns, field_type

__all__ = [
    "CONFORMANCE_COLUMNS",
    "FRAME_OF_FORM",
    "KEY_COLUMNS",
    "Frames",
    "tidy",
]

#: The key columns every frame starts with.
KEY_COLUMNS = ("patient_id", "record_id", "site", "form", "instance")
#: One row per value that could not be read as its field's type.
CONFORMANCE_COLUMNS = (*KEY_COLUMNS, "field", "value", "dtype", "reason")
#: The frame each form of the registry's dictionary becomes.
FRAME_OF_FORM = {
    "baseline": "patients",
    "treatments": "treatments",
    "icu_stay": "icu_stays",
    "infections": "infections",
    "outcome": "outcomes",
}
_DEFAULT_REPEATING = ("treatments", "icu_stay", "infections")


@dataclass(frozen=True)
class Frames:
    """The tidy frames of one registry snapshot.

    `patients` (baseline form), `treatments`, `icu_stays`, `infections`, `outcomes`
    (outcome form) and `conformance` (columns `CONFORMANCE_COLUMNS`). `forms` maps
    every form name of the dictionary (including any beyond the five above) to its frame.
    """

    patients: pd.DataFrame
    treatments: pd.DataFrame
    icu_stays: pd.DataFrame
    infections: pd.DataFrame
    outcomes: pd.DataFrame
    conformance: pd.DataFrame
    forms: dict[str, pd.DataFrame] = field(default_factory=dict)


def _raw_frame(rows_by_site: Mapping[str, Sequence[Mapping[str, object]]]) -> pd.DataFrame:
    parts = []
    for site, rows in rows_by_site.items():
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


def _form_fields(metadata: Sequence[Mapping[str, str]]) -> dict[str, list[Mapping[str, str]]]:
    out: dict[str, list[Mapping[str, str]]] = {}
    for i, row in enumerate(metadata):
        out.setdefault(row["form_name"], [])
        if i == 0 or row.get("field_type") == "descriptive":
            continue  # the id field is the record_id key column
        out[row["form_name"]].append(row)
    return out


def _empty_conformance() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in CONFORMANCE_COLUMNS}).astype(
        {"instance": "Int64"})


def _form_frame(
    raw: pd.DataFrame, keys: pd.DataFrame, form: str, fields: list[Mapping[str, str]],
    repeating: bool,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """One form's typed frame and its conformance rows, from the matching raw rows."""
    mask = (keys["instrument"] == form) if repeating else (keys["instrument"] == "")
    wanted = [c for row in fields for c in checkbox_columns(row) or [row["field_name"]]]
    sub = raw.loc[mask.to_numpy(), [c for c in wanted if c in raw.columns]]
    k = keys.loc[mask.to_numpy()]
    cols: dict[str, pd.Series] = {}
    nonblank = pd.Series(False, index=sub.index)
    problems: list[pd.DataFrame] = []
    for row in fields:
        ftype = field_type(row)
        for col in checkbox_columns(row) or [row["field_name"]]:
            values = sub[col] if col in sub.columns else pd.Series(None, index=sub.index,
                                                                   dtype="object")
            if row["field_type"] != "checkbox":
                nonblank |= values.notna() & (values != "")
            else:
                nonblank |= values.astype(str) == "1"
            typed, bad = ftype.parse(values)
            cols[col] = typed.astype(pd.api.types.pandas_dtype(ftype.dtype))
            bad = bad.fillna(False).astype(bool)
            if bad.any():
                p = k.loc[bad.to_numpy(), ["patient_id", "record_id", "site", "instance"]].copy()
                p.insert(3, "form", form)
                p["field"] = col
                p["value"] = values[bad].astype(str).to_numpy()
                p["dtype"] = ftype.dtype
                p["reason"] = ftype.reason
                problems.append(p)
    frame = pd.DataFrame(cols, index=sub.index)
    head = pd.DataFrame({
        "patient_id": k["patient_id"].astype("string"),
        "record_id": k["record_id"].astype("string"),
        "site": k["site"].astype("string"),
        "form": pd.Series(form, index=sub.index, dtype="string"),
        "instance": k["instance"] if repeating else pd.Series(pd.NA, index=sub.index,
                                                               dtype="Int64"),
    })
    frame = pd.concat([head, frame], axis=1)
    if repeating:
        keep = nonblank.to_numpy()
        frame = frame.loc[keep]
        problems = [p.loc[p.index.isin(frame.index)] for p in problems]
    return frame.reset_index(drop=True), problems


def tidy(
    rows_by_site: Mapping[str, Sequence[Mapping[str, object]]],
    metadata: Sequence[Mapping[str, str]],
    repeating: Collection[str] | None = None,
) -> Frames:
    """Split flat REDCap rows (per site) into typed frames, one per form.

    `rows_by_site` maps a site name to its flat export rows (dicts of strings, `""`
    empty; `redcap_repeat_instance` may be an int or a string). `metadata` is the data
    dictionary. `repeating` names the repeating forms; by default the registry's three
    plus any form seen as a `redcap_repeat_instrument`. Rows of a repeating form whose
    every field is empty are dropped; `<form>_complete` columns are not kept.
    """
    raw = _raw_frame(rows_by_site)
    id_field = metadata[0]["field_name"] if metadata else "record_id"
    n = len(raw)
    keys = pd.DataFrame(index=raw.index)
    keys["site"] = _as_str(raw["__site"]) if n else pd.Series(dtype="string")
    keys["record_id"] = (_as_str(raw[id_field]) if id_field in raw.columns
                         else pd.Series("", index=raw.index, dtype="string"))
    keys["patient_id"] = keys["site"] + ":" + keys["record_id"]
    instr = raw.get("redcap_repeat_instrument")
    keys["instrument"] = (_as_str(instr) if instr is not None
                          else pd.Series("", index=raw.index, dtype="string"))
    inst = raw.get("redcap_repeat_instance")
    keys["instance"] = (pd.to_numeric(inst.astype(object).mask(inst == ""),
                                      errors="coerce").astype("Float64").astype("Int64")
                        if inst is not None
                        else pd.Series(pd.NA, index=raw.index, dtype="Int64"))

    seen = set(keys["instrument"].unique()) - {""}
    rep = set(_DEFAULT_REPEATING if repeating is None else repeating) | seen
    by_form = _form_fields(metadata)
    forms: dict[str, pd.DataFrame] = {}
    problems: list[pd.DataFrame] = []
    for form, fields in by_form.items():
        forms[form], probs = _form_frame(raw, keys, form, fields, form in rep)
        problems.extend(probs)
    conformance = (pd.concat(problems, ignore_index=True).astype(
        {c: "string" for c in CONFORMANCE_COLUMNS if c != "instance"})
        if problems else _empty_conformance())

    def frame(form: str) -> pd.DataFrame:
        if form in forms:
            return forms[form]
        return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "instance" else "string")
                             for c in KEY_COLUMNS})

    return Frames(
        patients=frame("baseline"), treatments=frame("treatments"),
        icu_stays=frame("icu_stay"), infections=frame("infections"),
        outcomes=frame("outcome"), conformance=conformance, forms=forms,
    )
