"""The seeded synthetic anti-MDA5 DM registry: clean cohort, REDCap rows, injected errors.

`generate(GeneratorParams(...))` returns a `SyntheticRegistry`: the data dictionary, the
data access groups (one per hospital), the records exactly as REDCap's flat JSON export
gives them (every value a string, `""` empty; one base row per record with the
baseline and outcome forms, one row per repeat instance), the repeating-instrument
set-up, the project information and the ground truth of every injected error. The same
parameters always give the same registry, byte for byte.

The cohort itself is simulated in `registry.sandbox.cohort`; the errors are injected
by `registry.sandbox.inject`.

Delayed entry (off by default, so the default registry is unchanged byte for byte):
with `delayed_entry` = q > 0 a fraction q of the simulated patients enter the registry
1 to `entry_delay_days` days (uniform) after diagnosis, the rest on the day of
diagnosis; the dictionary gains `registry_entry_date`. JAK-CNI is started by the
registry's centres, so only on or after entry. A patient whose follow-up ends on or
before entry is never recorded (a registry enrols the living), and the history before
entry is recorded back to diagnosis, so counting entered patients as at risk from
diagnosis makes them immortal controls (benchmarks/analyses_entry_sim.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from registry.fieldtypes import export_columns
from registry.sandbox import dictionary
from registry.sandbox.cohort import DAYS_PER_YEAR, Patient, simulate_cohort
from registry.sandbox.inject import ERROR_KINDS, KIND_FIELDS, TruthRow, inject_errors
from registry.schema import RegistrySchema

__all__ = [
    "ERROR_KINDS",
    "KIND_FIELDS",
    "TRUTH_COLUMNS",
    "GeneratorParams",
    "SyntheticRegistry",
    "TruthRow",
    "generate",
]

TRUTH_COLUMNS = ("record_id", "form", "instance", "field", "error_kind")
#: The folder of the registry this generator makes data for (dictionary CSV, profile).
REGISTRY_FOLDER = Path(__file__).resolve().parents[2] / "registries" / "anti_mda5"
PROFILE = REGISTRY_FOLDER / "profile.toml"
_KEY_COLUMNS = ("record_id", "redcap_repeat_instrument", "redcap_repeat_instance",
                "redcap_data_access_group")

# (name, unique group name, relative size): uneven on purpose, non-ASCII names on purpose.
_SITES = (
    ("Hôpital Saint-Louis (Paris)", "paris", 0.33),
    ("Hospices Civils de Lyon – Hôpital de la Croix-Rousse", "lyon", 0.24),
    ("CHU de Lille – Hôpital Claude-Huriez", "lille", 0.18),
    ("AP-HM Hôpital de la Timone (Marseille)", "marseille", 0.14),
    ("CHU de Bordeaux – Hôpital Haut-Lévêque", "bordeaux", 0.11),
)
_FIRST_GROUP_ID = 4101


@dataclass(frozen=True)
class GeneratorParams:
    """What decides the registry. `error_rate` is the expected number of injected
    errors per patient; `as_of` is the data's "today" (no clean date after it)."""

    seed: int = 2025
    patients: int = 234
    sites: int = 5
    error_rate: float = 0.1
    true_hr: float = 1.0
    as_of: date = date(2025, 6, 30)
    delayed_entry: float = 0.0
    entry_delay_days: int = 365


@dataclass
class SyntheticRegistry:
    """A generated registry, in the shapes the REDCap API serves."""

    params: GeneratorParams
    metadata: list[dict[str, str]]
    dags: list[dict[str, object]]
    records: list[dict[str, str]]
    repeating: list[dict[str, str]]
    truth: list[TruthRow]
    project_info: dict[str, object] = field(default_factory=dict)
    form_labels: dict[str, str] = field(default_factory=lambda: dict(dictionary.FORM_LABELS))

    def rows_by_site(self) -> dict[str, list[dict[str, str]]]:
        """Records grouped by DAG unique group name (every DAG present, maybe empty)."""
        out: dict[str, list[dict[str, str]]] = {str(d["unique_group_name"]): []
                                                for d in self.dags}
        for row in self.records:
            out.setdefault(row["redcap_data_access_group"], []).append(row)
        return out

    def truth_text(self) -> str:
        """The ground truth as CSV text (header `TRUTH_COLUMNS`)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        writer.writerows(self.truth)
        return buf.getvalue()

    def truth_csv(self, path: str | Path) -> Path:
        """Write the ground truth of the injected errors as CSV; returns the path."""
        path = Path(path)
        path.write_text(self.truth_text(), encoding="utf-8")
        return path

    def schema(self, *, profile: bool = True) -> RegistrySchema:
        """The registry's schema as the pipeline builds it from a pull: this
        dictionary, project info and repeating setup, with the registry's profile
        (`registries/anti_mda5/profile.toml`) unless `profile` is False."""
        from registry.profile import load_profile
        from registry.schema import build_schema

        return build_schema(self.metadata, project_info=self.project_info,
                            repeating=self.repeating,
                            profile=load_profile(PROFILE) if profile else None,
                            instruments=[{"instrument_name": f, "instrument_label": label}
                                         for f, label in self.form_labels.items()])


def _dags(n_sites: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(n_sites):
        name, unique = (_SITES[i][0], _SITES[i][1]) if i < len(_SITES) else (
            f"Site {i + 1}", f"site_{i + 1}")
        out.append({"data_access_group_name": name, "unique_group_name": unique,
                    "data_access_group_id": _FIRST_GROUP_ID + i})
    return out


def _site_weights(n_sites: int) -> np.ndarray:
    w = np.array([_SITES[i][2] if i < len(_SITES) else 0.08 for i in range(n_sites)])
    return w / w.sum()


def _iso(d: date) -> str:
    return d.isoformat()


def _age(birth: date, dx: date) -> int:
    """REDCap's rounddown(datediff([birth], [dx], "y"), 0): days / 365.2425, floored."""
    return int((dx - birth).days // DAYS_PER_YEAR)


def _base_values(p: Patient, entry: bool = False) -> dict[str, str]:
    yn = {True: "1", False: "0"}
    v = {
        "sex": p.sex, "birth_date": _iso(p.birth), "diagnosis_date": _iso(p.diagnosis),
        "age_at_diagnosis": str(_age(p.birth, p.diagnosis)), "mda5_titre": str(p.mda5),
        "ferritin": p.ferritin, "ild": yn[p.ild], "rp_ild": yn[p.rp_ild] if p.ild else "",
        "hrct_pattern": p.hrct, "muscle_weakness": yn[p.weakness], "cpk": p.cpk,
        "icu_ever": yn[bool(p.icu)], "baseline_notes": p.notes,
        "last_fu_date": _iso(p.day(p.last_fu)),
        "vital_status": "2" if p.death is not None else "1",
        "death_date": _iso(p.day(p.death)) if p.death is not None else "",
        "death_cause": p.death_cause,
        "lung_tx": yn[p.transplant is not None],
        "lung_tx_date": _iso(p.day(p.transplant)) if p.transplant is not None else "",
        "fu_days": str(p.last_fu),
        "baseline_complete": "2", "outcome_complete": "2",
    }
    for k, ticked in enumerate(p.skin, start=1):
        v[f"skin___{k}"] = yn[ticked]
    if entry:
        v[dictionary.ENTRY_FIELD[0]] = _iso(p.day(p.entry))
    return v


def _repeat_values(p: Patient) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for t in p.treatments:
        out.append(("treatments", {
            "trt_class": t.cls, "trt_name": t.name, "trt_other": t.other,
            "trt_start": _iso(p.day(t.start)), "trt_ongoing": "1" if t.stop is None else "0",
            "trt_stop": "" if t.stop is None else _iso(p.day(t.stop)),
            "treatments_complete": "2"}))
    for s in p.icu:
        out.append(("icu_stay", {
            "icu_admit_date": _iso(p.day(s.admit)),
            "icu_discharge_date": "" if s.discharge is None else _iso(p.day(s.discharge)),
            "icu_reason": s.reason, "icu_mv": "0" if s.mv is None else "1",
            "icu_mv_date": "" if s.mv is None else _iso(p.day(s.mv)),
            "icu_ecmo": "0" if s.ecmo is None else "1",
            "icu_ecmo_date": "" if s.ecmo is None else _iso(p.day(s.ecmo)),
            "icu_stay_complete": "2"}))
    for f in p.infections:
        out.append(("infections", {
            "inf_date": _iso(p.day(f.day)), "inf_site": f.site, "inf_pathogen": f.pathogen,
            "inf_documented": f.documented, "inf_organism": f.organism,
            "inf_severity": f.severity, "inf_hospitalised": f.hospitalised,
            "infections_complete": "2"}))
    return out


def _records(patients: list[Patient], sites: np.ndarray, dags: list[dict[str, object]],
             columns: list[str], entry: bool = False) -> list[dict[str, str]]:
    empty = dict.fromkeys(columns, "")
    counters = [0] * len(dags)
    rows: list[dict[str, str]] = []
    for p, s in zip(patients, sites, strict=True):
        dag = dags[int(s)]
        counters[int(s)] += 1
        rid = f"{dag['data_access_group_id']}-{counters[int(s)]}"
        head = {"record_id": rid, "redcap_repeat_instrument": "",
                "redcap_repeat_instance": "", "redcap_data_access_group":
                str(dag["unique_group_name"])}
        rows.append({**head, **empty, **_base_values(p, entry), "record_id": rid})
        instance: dict[str, int] = {}
        for form, values in _repeat_values(p):
            instance[form] = instance.get(form, 0) + 1
            rows.append({**head, **empty, **values, "record_id": rid,
                         "redcap_repeat_instrument": form,
                         "redcap_repeat_instance": str(instance[form])})
    return sort_records(rows)


def _entry_days(rng: np.random.Generator, params: GeneratorParams) -> np.ndarray:
    """Registry entry per patient, days after diagnosis: 1-`entry_delay_days` for a
    fraction `delayed_entry`, else 0 (its own random stream: the cohort's is unchanged)."""
    late = rng.random(params.patients) < params.delayed_entry
    delay = rng.integers(1, params.entry_delay_days + 1, size=params.patients)
    return np.where(late, delay, 0)


def sort_records(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """REDCap's export order: record (numeric-aware), base row, form order, instance."""
    form_rank = {f: i for i, f in enumerate(dictionary.FORMS)}

    def key(r: dict[str, str]) -> tuple[object, ...]:
        gid, _, n = r["record_id"].partition("-")
        form = r["redcap_repeat_instrument"]
        return (int(gid), int(n or 0), form_rank.get(form, -1 if not form else 99),
                int(r["redcap_repeat_instance"] or 0))

    return sorted(rows, key=key)


def _project_info(params: GeneratorParams) -> dict[str, object]:
    return {
        "project_id": 13, "project_title": "Registre MDA5 – anti-MDA5 DM registry (synthetic)",
        "creation_time": "2019-03-04 10:12:37", "production_time": "2019-04-01 09:00:00",
        "in_production": 1, "project_language": "English", "purpose": 2,
        "purpose_other": "",
        "project_notes": (f"Synthetic sandbox registry. seed={params.seed}; "
                          f"true_hr={params.true_hr}; error_rate={params.error_rate}; "
                          f"patients={params.patients}; as_of={params.as_of.isoformat()}"),
        "custom_record_label": "", "secondary_unique_field": "", "is_longitudinal": 0,
        "has_repeating_instruments_or_events": 1, "surveys_enabled": 0,
        "scheduling_enabled": 0, "record_autonumbering_enabled": 1,
        "randomization_enabled": 0, "ddp_enabled": 0, "project_irb_number": "",
        "project_grant_number": "", "project_pi_firstname": "", "project_pi_lastname": "",
        "display_today_now_button": 1, "missing_data_codes": "", "external_modules": "",
        "bypass_branching_erase_field_prompt": 0,
    }


def generate(params: GeneratorParams | None = None) -> SyntheticRegistry:
    """Generate the registry `params` describe (deterministic in `params`)."""
    params = params or GeneratorParams()
    rng = np.random.default_rng(params.seed)
    delayed = params.delayed_entry > 0
    metadata = dictionary.metadata(delayed_entry=delayed)
    columns = [c for c in export_columns(metadata) if c != "record_id"]
    dags = _dags(params.sites)
    entry = _entry_days(np.random.default_rng([params.seed, 2]), params) if delayed else None
    patients = simulate_cohort(rng, params.patients, params.as_of, params.true_hr, entry)
    sites = rng.choice(params.sites, size=params.patients, p=_site_weights(params.sites))
    if delayed:
        keep = [i for i, p in enumerate(patients) if p.last_fu > p.entry]
        patients, sites = [patients[i] for i in keep], sites[keep]
    records = _records(patients, sites, dags, columns, entry=delayed)
    records, truth = inject_errors(
        np.random.default_rng([params.seed, 1]), records, metadata, params.error_rate,
        params.as_of)
    return SyntheticRegistry(
        params=params, metadata=metadata, dags=dags, records=sort_records(records),
        repeating=[{"form_name": f, "custom_form_label": ""}
                   for f in dictionary.REPEATING_FORMS],
        truth=truth, project_info=_project_info(params),
    )
