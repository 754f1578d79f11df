"""Hand-made registries: REDCap flat rows read by the real `registry.tidy.tidy`.

`patient()` writes one clean patient form by form (overrides as `form__field=value`);
`make_frames()` turns such rows into the flat export REDCap gives (one base row per
record, one row per repeat instance, every value a string) and tidies them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pytest

from registry.fieldtypes import export_columns
from registry.sandbox.dictionary import metadata
from registry.schema import RegistrySchema
from registry.tidy import Frames, tidy
from tests import anti_mda5

TODAY = dt.date(2025, 6, 1)


def make_frames(rows: Iterable[Mapping[str, object]]) -> Frames:
    """Form rows (site, record_id, form, instance, raw fields) -> tidy frames (with the
    anti-MDA5 schema: `frames.schema`)."""
    return tidy(make_flat(rows), anti_mda5.schema(metadata()))


def make_flat(rows: Iterable[Mapping[str, object]]) -> dict[str, list[dict[str, str]]]:
    """Form rows -> the flat export rows of each site, as REDCap gives them."""
    columns = export_columns(metadata())
    base: dict[tuple[str, str], dict[str, str]] = {}
    flat: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        site, rid, form = str(row["site"]), str(row["record_id"]), str(row["form"])
        values = {k: ("" if v is None else str(v)) for k, v in row.items()
                  if k not in ("site", "record_id", "form", "instance")}
        if "skin" in values:
            ticked = set(values.pop("skin").split(","))
            values.update({f"skin___{c}": "1" if str(c) in ticked else "0"
                           for c in range(1, 6)})
        if form in ("baseline", "outcome"):
            out = base.setdefault((site, rid), dict.fromkeys(columns, ""))
            if not out["record_id"]:
                flat.setdefault(site, []).append(out)
            out.update(record_id=rid, redcap_repeat_instrument="", redcap_repeat_instance="",
                       redcap_data_access_group=site, **values)
        else:
            out = dict.fromkeys(columns, "")
            out.update(record_id=rid, redcap_repeat_instrument=form,
                       redcap_repeat_instance=str(row["instance"]),
                       redcap_data_access_group=site, **values)
            flat.setdefault(site, []).append(out)
    return flat


def patient(site: str, rid: str, *, icu: int = 0, **over: object) -> list[dict[str, object]]:
    """A clean patient: baseline, one treatment, `icu` ICU stays, one infection, outcome."""
    rows: list[dict[str, object]] = [
        {"site": site, "record_id": rid, "form": "baseline", "instance": None,
         "sex": "1", "birth_date": "1970-05-01", "diagnosis_date": "2020-01-10",
         "mda5_titre": "120", "ferritin": "800", "ild": "1", "rp_ild": "1",
         "hrct_pattern": "1", "skin": "1,2", "muscle_weakness": "0",
         "icu_ever": "1" if icu else "0"},
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
        month = 2 + 2 * k
        rows.append({"site": site, "record_id": rid, "form": "icu_stay", "instance": k + 1,
                     "icu_admit_date": f"2020-{month:02d}-01",
                     "icu_discharge_date": f"2020-{month:02d}-15", "icu_reason": "1",
                     "icu_mv": "1", "icu_mv_date": f"2020-{month:02d}-02", "icu_ecmo": "0"})
    for key, value in over.items():
        form, _, field = key.partition("__")
        for r in rows:
            if r["form"] == form:
                r[field] = value
    return rows


@pytest.fixture(scope="session")
def dictionary() -> list[dict[str, str]]:
    """The synthetic registry's data dictionary."""
    return metadata()


@pytest.fixture(scope="session")
def schema() -> RegistrySchema:
    """The synthetic registry's schema: its data dictionary and profile."""
    return anti_mda5.schema(metadata())
