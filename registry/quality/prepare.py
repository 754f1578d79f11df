"""Per-patient derived columns the cross-form rules need, added to the tidy frames.

A GX expectation sees one frame at a time, so a rule such as "a treatment starts on or
after the diagnosis" needs the diagnosis date on every treatment row. `prepare()` adds
those columns (and a few counts) and returns one frame per rule frame, each row still
keyed by `patient_id, record_id, site, form, instance` so a failure points at one form
instance. Added columns are documented in docs/quality.md; a rule's message may use
them ("{diagnosis_date}").
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = ["KEYS", "PATIENT_DATES", "prepare"]

KEYS = ["patient_id", "record_id", "site", "form", "instance"]

#: Patient-level dates copied onto every repeating row (and onto patients/outcomes).
PATIENT_DATES = ("birth_date", "diagnosis_date", "last_fu_date", "death_date",
                 "lung_tx_date")

def _col(frame: pd.DataFrame, name: str, dtype: str = "datetime64[ns]") -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(pd.NA if dtype != "datetime64[ns]" else pd.NaT, index=frame.index,
                     dtype=dtype)


def _patient_table(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per patient_id: the dates and states cross-form rules compare against."""
    patients = frames.get("patients", pd.DataFrame(columns=KEYS))
    outcomes = frames.get("outcomes", pd.DataFrame(columns=KEYS))
    ids = pd.Index(pd.concat([patients["patient_id"], outcomes["patient_id"]]).unique(),
                   name="patient_id")
    table = pd.DataFrame(index=ids)
    pat = patients.drop_duplicates("patient_id").set_index("patient_id")
    out = outcomes.drop_duplicates("patient_id").set_index("patient_id")
    for name in ("birth_date", "diagnosis_date"):
        table[name] = _col(pat, name).reindex(ids)
    table["icu_ever"] = _col(pat, "icu_ever", "boolean").reindex(ids)
    for name in ("last_fu_date", "death_date", "lung_tx_date"):
        table[name] = _col(out, name).reindex(ids)
    table["vital_status"] = _col(out, "vital_status", "string").reindex(ids)
    # The last date the patient is known to be followed: death if recorded, else last FU.
    table["end_date"] = table["death_date"].fillna(table["last_fu_date"])
    icu = frames.get("icu_stays")
    counts = (icu.groupby("patient_id").size() if icu is not None and len(icu)
              else pd.Series(dtype="int64"))
    table["n_icu_stays"] = counts.reindex(ids).fillna(0).astype("Int64")
    table["has_icu_stay"] = (table["n_icu_stays"] > 0).astype("boolean")
    return table


def _add_patient_columns(frame: pd.DataFrame, table: pd.DataFrame,
                         names: tuple[str, ...]) -> pd.DataFrame:
    joined = table.loc[:, [n for n in names if n not in frame.columns]]
    return frame.join(joined, on="patient_id")


def _mark_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """`duplicate_of`: the earliest instance whose every field equals this row's, else NA.

    Rows are compared by a 64-bit hash of their fields (missing equals missing), one
    vectorised pass instead of a group-by over every field.
    """
    fields = [c for c in frame.columns if c not in KEYS]
    out = frame.copy()
    if frame.empty or not fields:
        out["duplicate_of"] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
        return out
    digest = pd.util.hash_pandas_object(frame[fields], index=False).to_numpy()
    ordered = pd.DataFrame({"patient_id": frame["patient_id"].to_numpy(), "digest": digest,
                            "instance": frame["instance"].to_numpy()}, index=frame.index)
    ordered = ordered.sort_values(["patient_id", "instance"], kind="stable")
    grouped = ordered.groupby(["patient_id", "digest"], sort=False)["instance"]
    first = grouped.transform("first")
    dup = grouped.cumcount() > 0
    out["duplicate_of"] = first.where(dup).reindex(out.index).astype("Int64")
    return out


def _icu_stay_order(icu: pd.DataFrame) -> pd.DataFrame:
    """`is_last_stay` and the previous stay's discharge, in admission order per patient."""
    out = icu.copy()
    ordered = out.sort_values(["patient_id", "icu_admit_date", "instance"], kind="stable")
    nxt = ordered.groupby("patient_id")["instance"].shift(-1)
    out["is_last_stay"] = nxt.isna().reindex(out.index).astype("boolean")
    prev = ordered.groupby("patient_id")["icu_discharge_date"].shift(1)
    out["previous_discharge_date"] = prev.reindex(out.index)
    return out


def _icu_at(treatments: pd.DataFrame, icu: pd.DataFrame) -> pd.Series:
    """Whether the patient was in an ICU on the treatment's start date (NA if unknowable)."""
    result = pd.Series(pd.NA, index=treatments.index, dtype="boolean")
    if treatments.empty:
        return result
    known = treatments["trt_start"].notna()
    result[known] = False
    if icu.empty:
        return result
    stays = icu[["patient_id", "icu_admit_date", "icu_discharge_date", "is_last_stay"]]
    bad = stays["icu_admit_date"].isna() | (
        stays["icu_discharge_date"].isna() & ~stays["is_last_stay"].fillna(False))
    unknowable = set(stays.loc[bad, "patient_id"])
    trt = treatments.loc[known, ["patient_id", "trt_start"]].reset_index()
    merged = trt.merge(stays, on="patient_id", how="inner")
    inside = (merged["icu_admit_date"] <= merged["trt_start"]) & (
        merged["icu_discharge_date"].isna() | (merged["trt_start"] <= merged["icu_discharge_date"]))
    hit = merged.loc[inside.fillna(False), "index"].unique()
    result[hit] = True
    result[treatments["patient_id"].isin(unknowable)] = pd.NA
    return result


def prepare(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Tidy frames -> the frames rules run on, with the per-patient columns added.

    Columns added: patients/outcomes get each other's dates plus `end_date`,
    `n_icu_stays`, `has_icu_stay`, `age_at_diagnosis_years`; repeating frames get
    `birth_date, diagnosis_date, last_fu_date, death_date, end_date` and
    `duplicate_of`; ICU stays get `is_last_stay`, `previous_discharge_date`;
    treatments get `icu_at_start` (NA when the ICU forms do not allow to tell).
    """
    table = _patient_table(frames)
    dates = ("birth_date", "diagnosis_date", "last_fu_date", "death_date", "end_date")
    prepared: dict[str, pd.DataFrame] = {}
    if "patients" in frames:
        pat = _add_patient_columns(frames["patients"], table, (
            *dates, "lung_tx_date", "vital_status", "n_icu_stays", "has_icu_stay"))
        age = (pat["diagnosis_date"] - pat["birth_date"]).dt.days / 365.25
        pat["age_at_diagnosis_years"] = age.astype("Float64").round(1)
        prepared["patients"] = pat
    if "outcomes" in frames:
        prepared["outcomes"] = _add_patient_columns(frames["outcomes"], table,
                                                    (*dates, "icu_ever", "n_icu_stays"))
    icu = frames.get("icu_stays")
    if icu is not None:
        icu = _icu_stay_order(_add_patient_columns(icu, table, dates))
        prepared["icu_stays"] = _mark_duplicates_keep(icu, ("is_last_stay",
                                                            "previous_discharge_date",
                                                            *dates))
    if "treatments" in frames:
        trt = _add_patient_columns(frames["treatments"], table, dates)
        trt = _mark_duplicates_keep(trt, dates)
        trt["icu_at_start"] = _icu_at(trt, prepared.get("icu_stays", pd.DataFrame(
            columns=["patient_id", "icu_admit_date", "icu_discharge_date", "is_last_stay"])))
        prepared["treatments"] = trt
    if "infections" in frames:
        inf = _add_patient_columns(frames["infections"], table, dates)
        prepared["infections"] = _mark_duplicates_keep(inf, dates)
    return prepared


def _mark_duplicates_keep(frame: pd.DataFrame, added: tuple[str, ...]) -> pd.DataFrame:
    """Mark duplicates on the form's own fields only (not on the columns added here)."""
    own = frame.drop(columns=[c for c in added if c in frame.columns])
    marked = _mark_duplicates(own)
    out = frame.copy()
    out["duplicate_of"] = marked["duplicate_of"]
    return out
