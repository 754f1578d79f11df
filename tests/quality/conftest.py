"""Hand-made registries in the tidy-frame shape (docs/design.md, "Tidy frames").

`make_frames` is a small stand-in for `registry.tidy.tidy` that reads REDCap-style
string rows with the dictionary's types, so these tests do not depend on the generator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd
import pytest

from registry.sandbox.dictionary import metadata

TODAY = dt.date(2025, 6, 1)
FRAME_OF = {"baseline": "patients", "treatments": "treatments", "icu_stay": "icu_stays",
            "infections": "infections", "outcome": "outcomes"}


def _choices(meta: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for part in meta["select_choices_or_calculations"].split("|"):
        code, _, label = part.partition(",")
        out[code.strip()] = label.strip()
    return out


def make_frames(rows: Iterable[Mapping[str, object]]) -> dict[str, pd.DataFrame]:
    """rows: dicts with site, record_id, form, instance (None) and raw field strings."""
    meta = {m["field_name"]: m for m in metadata()}
    by_frame: dict[str, list[dict[str, object]]] = {f: [] for f in FRAME_OF.values()}
    conformance = []
    for row in rows:
        site, rid, form = str(row["site"]), str(row["record_id"]), str(row["form"])
        inst = row.get("instance")
        out: dict[str, object] = {"patient_id": f"{site}:{rid}", "record_id": rid,
                                  "site": site, "form": form, "instance": inst}
        for m in metadata():
            if m["form_name"] != form or m["field_name"] == "record_id":
                continue
            name, ftype = m["field_name"], m["field_type"]
            val = row.get(name, "")
            val = "" if val is None else str(val)
            validation = m["text_validation_type_or_show_slider_number"]
            if ftype == "checkbox":
                ticked = set(val.split(",")) if val else set()
                for code in _choices(m):
                    out[f"{name}___{code}"] = code in ticked
                continue
            if val == "":
                out[name] = None
            elif ftype in ("yesno", "truefalse"):
                out[name] = {"1": True, "0": False}.get(val)
            elif ftype in ("radio", "dropdown"):
                out[name] = _choices(m).get(val, val)
            elif validation == "date_ymd":
                try:
                    out[name] = pd.Timestamp(dt.date.fromisoformat(val))
                except ValueError:
                    out[name] = None
                    conformance.append({"patient_id": out["patient_id"], "record_id": rid,
                                        "site": site, "form": form, "instance": inst,
                                        "field": name, "value": val,
                                        "reason": "not a date (YYYY-MM-DD)"})
            elif validation == "integer" or ftype == "calc" or validation == "number":
                out[name] = float(val)
            else:
                out[name] = val
        by_frame[FRAME_OF[form]].append(out)
    frames = {}
    for name, recs in by_frame.items():
        form = next(k for k, v in FRAME_OF.items() if v == name)
        cols = ["patient_id", "record_id", "site", "form", "instance"]
        for m in metadata():
            if m["form_name"] == form and m["field_name"] != "record_id":
                if m["field_type"] == "checkbox":
                    cols += [f"{m['field_name']}___{c}" for c in _choices(m)]
                else:
                    cols.append(m["field_name"])
        df = pd.DataFrame(recs, columns=cols)
        df["instance"] = df["instance"].astype("Int64")
        for m in metadata():
            n = m["field_name"]
            if n not in df.columns:
                continue
            v = m["text_validation_type_or_show_slider_number"]
            if m["field_type"] in ("yesno", "truefalse"):
                df[n] = df[n].astype("boolean")
            elif v == "date_ymd":
                df[n] = pd.to_datetime(df[n])
            elif v == "integer":
                df[n] = df[n].astype("Float64").astype("Int64")
            elif v == "number" or m["field_type"] == "calc":
                df[n] = df[n].astype("Float64")
            else:
                df[n] = df[n].astype("string")
        frames[name] = df
    frames["conformance"] = pd.DataFrame(
        conformance, columns=["patient_id", "record_id", "site", "form", "instance", "field",
                              "value", "reason"])
    return frames


def patient(site: str, rid: str, *, icu: int = 0, **over: object) -> list[dict[str, object]]:
    """A clean patient: baseline, one treatment, `icu` ICU stays, one infection, outcome."""
    base = {"site": site, "record_id": rid, "form": "baseline", "instance": None,
            "sex": "1", "birth_date": "1970-05-01", "diagnosis_date": "2020-01-10",
            "mda5_titre": "120", "ferritin": "800", "ild": "1", "rp_ild": "1",
            "hrct_pattern": "1", "skin": "1,2", "muscle_weakness": "0",
            "icu_ever": "1" if icu else "0"}
    rows = [base,
            {"site": site, "record_id": rid, "form": "treatments", "instance": 1,
             "trt_class": "1", "trt_name": "11", "trt_start": "2020-01-20",
             "trt_ongoing": "0", "trt_stop": "2020-06-01"},
            {"site": site, "record_id": rid, "form": "infections", "instance": 1,
             "inf_date": "2020-03-01", "inf_site": "1", "inf_pathogen": "4",
             "inf_documented": "1", "inf_organism": "P. jirovecii", "inf_severity": "3",
             "inf_hospitalised": "1"},
            {"site": site, "record_id": rid, "form": "outcome", "instance": None,
             "last_fu_date": "2021-01-10", "vital_status": "1", "lung_tx": "0"}]
    for k in range(icu):
        rows.append({"site": site, "record_id": rid, "form": "icu_stay", "instance": k + 1,
                     "icu_admit_date": f"2020-0{2 + 2 * k}-01",
                     "icu_discharge_date": f"2020-0{2 + 2 * k}-15", "icu_reason": "1",
                     "icu_mv": "1", "icu_mv_date": f"2020-0{2 + 2 * k}-02",
                     "icu_ecmo": "0"})
    for key, value in over.items():
        form, _, field = key.partition("__")
        for r in rows:
            if r["form"] == form and field:
                r[field] = value
    return rows


@pytest.fixture(scope="session")
def dictionary() -> list[dict[str, str]]:
    return metadata()
