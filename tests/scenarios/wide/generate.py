"""The very wide scenario project: 5,000+ fields over 34 forms, 1,000 records, generated.

Deterministic: the same arguments give the same folder, byte for byte (numpy's PCG64
from a fixed seed, column by column). Too big to commit (about 25 MB of CSV at 1,000
records), so it is generated on demand and cached:

    python -m tests.scenarios.wide.generate OUT_DIR [--records 1000]

or, from Python, `wide_folder(records=1000)` (cached under `var/scenarios/`), which the
tests and the quality benchmarks use. See README.md for what it holds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registry.sandbox.design import Design
from registry.sandbox.folder import write_folder

__all__ = ["FORMS", "GENERATOR_VERSION", "WideSpec", "build", "wide_folder"]

#: Bump when the output changes, so cached folders are rebuilt.
GENERATOR_VERSION = 1
_REPO = Path(__file__).resolve().parents[3]
FORMS = (
    "enrolment", "demographics", "medical_history", "family_history", "social_history",
    "vital_signs", "physical_exam", "neurological_exam", "skin_exam", "muscle_testing",
    "pulmonary_function", "chest_imaging", "cardiac_assessment", "ecg", "haematology",
    "biochemistry", "liver_panel", "renal_panel", "immunology", "serology", "urinalysis",
    "microbiology", "biopsy", "quality_of_life", "pain_scores", "functional_status",
    "nutrition", "vaccinations", "comorbidities", "prior_treatments", "concomitant_meds",
    "study_drug", "visit_log", "adverse_events",
)
_REPEATING = ("visit_log", "adverse_events")
_DAGS = [
    {"data_access_group_name": "Hôpital Nord – Marseille", "unique_group_name": "nord",
     "data_access_group_id": 2101},
    {"data_access_group_name": "Universitätsklinikum Köln", "unique_group_name": "koln",
     "data_access_group_id": 2102},
    {"data_access_group_name": "Hospital Universitario La Paz", "unique_group_name": "la_paz",
     "data_access_group_id": 2103},
]
# (kind, weight): the mix of field kinds on a data form
_KINDS = (("text", 14), ("date_ymd", 9), ("date_dmy", 3), ("datetime_ymd", 2), ("time", 1),
          ("integer", 10), ("number", 8), ("number_1dp", 3), ("number_2dp", 2), ("radio", 12),
          ("dropdown", 9), ("yesno", 9), ("truefalse", 2), ("checkbox", 5), ("notes", 3),
          ("calc", 3), ("email", 1), ("phone", 1), ("zipcode", 1), ("slider", 1), ("file", 1))
_WORDS = ("aucun", "léger", "modéré", "sévère", "stable", "amélioré", "Müller", "Ñandú",
          "œdème", "réévalué", "contrôle", "fièvre", "naïf", "São Paulo", "Zürich", "déjà vu")


@dataclass(frozen=True)
class WideSpec:
    """What decides the project: its size and its seed."""

    records: int = 1000
    fields_per_form: int = 155
    seed: int = 5751


def _field_plan(spec: WideSpec) -> list[dict[str, str]]:
    """The data dictionary, in the API's metadata shape."""
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    kinds = [k for k, _ in _KINDS]
    weights = np.array([w for _, w in _KINDS], dtype=float)
    weights /= weights.sum()
    meta: list[dict[str, str]] = []

    def row(name: str, form: str, ftype: str, label: str, **extra: str) -> dict[str, str]:
        base = dict.fromkeys(("section_header", "select_choices_or_calculations", "field_note",
                              "text_validation_type_or_show_slider_number",
                              "text_validation_min", "text_validation_max", "identifier",
                              "branching_logic", "required_field", "custom_alignment",
                              "question_number", "matrix_group_name", "matrix_ranking",
                              "field_annotation"), "")
        return {"field_name": name, "form_name": form, **base, "field_type": ftype,
                "field_label": label, **extra}

    meta.append(row("record_id", "enrolment", "text", "Record ID"))
    meta.append(row("enrol_date", "enrolment", "text", "Date d'inclusion",
                    text_validation_type_or_show_slider_number="date_ymd",
                    required_field="y"))
    meta.append(row("consent", "enrolment", "yesno", "Consent signed?", required_field="y"))
    for f_i, form in enumerate(FORMS[1:], start=1):
        prefix = f"f{f_i:02d}"
        yesnos: list[str] = []
        ints: list[str] = []
        meta.append(row(f"{prefix}_intro", form, "descriptive",
                        f"<b>{form.replace('_', ' ').title()}</b>: complete at each visit.",
                        section_header=form.replace("_", " ").title()))
        for n in range(spec.fields_per_form - 1):
            kind = str(rng.choice(kinds, p=weights))
            if kind == "calc" and len(ints) < 2:
                kind = "text"  # a calc sums two earlier integers of its form
            name = f"{prefix}_{kind.split('_')[0][:4]}_{n:03d}"
            label = f"{form.replace('_', ' ').capitalize()} item {n + 1}"
            extra: dict[str, str] = {}
            if kind in ("radio", "dropdown", "checkbox"):
                k = int(rng.integers(2, 7))
                extra["select_choices_or_calculations"] = " | ".join(
                    f"{c}, {_WORDS[(n + c) % len(_WORDS)]} {c}" for c in range(1, k + 1))
                ftype = kind
            elif kind in ("yesno", "truefalse", "notes", "file"):
                ftype = kind
            elif kind == "slider":
                ftype, extra["select_choices_or_calculations"] = "slider", "0 | 50 | 100"
            elif kind == "calc":
                ftype = "calc"
                extra["select_choices_or_calculations"] = f"[{ints[-2]}] + [{ints[-1]}]"
            else:
                ftype = "text"
                if kind != "text":
                    extra["text_validation_type_or_show_slider_number"] = kind
                if kind == "integer" and rng.random() < 0.5:
                    extra["text_validation_min"], extra["text_validation_max"] = "0", "500"
                if kind == "number" and rng.random() < 0.3:
                    extra["text_validation_min"] = "0"
                if kind == "date_ymd" and rng.random() < 0.3:
                    extra["text_validation_max"] = "today"
            if yesnos and rng.random() < 0.2:
                extra["branching_logic"] = f"[{yesnos[-1]}] = '1'"
            elif f_i > 2 and rng.random() < 0.02:
                extra["branching_logic"] = "[consent] = '1'"  # a cross-form reference
            if rng.random() < 0.08 and ftype not in ("calc", "descriptive", "file"):
                extra["required_field"] = "y"
            meta.append(row(name, form, ftype, label, **extra))
            if ftype == "yesno":
                yesnos.append(name)
            if kind == "integer":
                ints.append(name)
    return meta


def _values(rng: np.random.Generator, meta: dict[str, str], n: int) -> list[str]:
    """n stored values for one field (before branching and blanks)."""
    ftype = meta["field_type"]
    vtype = meta["text_validation_type_or_show_slider_number"]
    if ftype in ("radio", "dropdown"):
        k = meta["select_choices_or_calculations"].count("|") + 1
        return [str(v) for v in rng.integers(1, k + 1, n)]
    if ftype in ("yesno", "truefalse"):
        return [str(v) for v in rng.integers(0, 2, n)]
    if ftype == "slider":
        return [str(v) for v in rng.integers(0, 101, n)]
    if ftype == "notes":
        lengths = rng.integers(1, 40, n)
        long = rng.random(n) < 0.002
        return [" ".join(_WORDS[(i + j) % len(_WORDS)] for j in range(int(ln) * (20 if lg else 1)))
                for i, (ln, lg) in enumerate(zip(lengths, long, strict=True))]
    if ftype == "file":
        return [f"scan_{i:04d}.pdf" for i in range(n)]
    if vtype.startswith("date") or vtype.startswith("datetime"):
        days = rng.integers(0, 35 * 365, n)
        dates = np.datetime64("1990-01-01") + days.astype("timedelta64[D]")
        if vtype.startswith("datetime"):
            minutes = rng.integers(0, 24 * 60, n)
            return [f"{d} {m // 60:02d}:{m % 60:02d}" for d, m in zip(dates, minutes,
                                                                     strict=True)]
        return [str(d) for d in dates]
    if vtype == "time":
        minutes = rng.integers(0, 24 * 60, n)
        return [f"{m // 60:02d}:{m % 60:02d}" for m in minutes]
    if vtype == "integer":
        high = int(meta["text_validation_max"] or 900)
        return [str(v) for v in rng.integers(0, high + 1, n)]
    if vtype.startswith("number"):
        digits = int(vtype[7]) if vtype[7:8].isdigit() else 2
        return [f"{v:.{digits}f}" for v in rng.gamma(2.0, 30.0, n)]
    if vtype == "email":
        return [f"patient{i}@example.org" for i in rng.integers(1, 10_000, n)]
    if vtype == "phone":
        return [f"(615) 555-{i:04d}" for i in rng.integers(0, 10_000, n)]
    if vtype == "zipcode":
        return [f"{i:05d}" for i in rng.integers(10_000, 99_999, n)]
    return [" ".join(_WORDS[(i + j) % len(_WORDS)] for j in range(3))
            for i in rng.integers(0, len(_WORDS), n)]


def _sum(x: str, y: str) -> str:
    """What REDCap's calc `[a] + [b]` stores: blank unless both are numbers."""
    try:
        total = float(x) + float(y)
    except ValueError:
        return ""
    return str(int(total)) if total.is_integer() else str(total)


def _rows(spec: WideSpec, meta: list[dict[str, str]]) -> list[dict[str, Any]]:
    rng = np.random.Generator(np.random.PCG64(spec.seed + 1))
    n = spec.records
    dag_of = rng.integers(0, len(_DAGS), n)
    counters = [0] * len(_DAGS)
    ids = []
    for d in dag_of:
        counters[d] += 1
        ids.append(f"{_DAGS[d]['data_access_group_id']}-{counters[d]}")
    base: list[dict[str, Any]] = [
        {"record_id": rid, "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
         "redcap_data_access_group": _DAGS[d]["unique_group_name"]}
        for rid, d in zip(ids, dag_of, strict=True)]
    filled = {form: rng.random(n) < (0.97 if form == "enrolment" else 0.8) for form in FORMS}
    columns: dict[str, list[str]] = {}
    for m in meta[1:]:
        name, form, ftype = m["field_name"], m["form_name"], m["field_type"]
        if ftype == "descriptive" or form in _REPEATING:
            continue
        values = _values(rng, m, n)
        present = filled[form] & (rng.random(n) < 0.9)
        logic = m["branching_logic"]
        if logic:
            parent = logic[1:logic.index("]")]
            shown = np.array([v == "1" for v in columns.get(parent, [""] * n)])
            present &= shown | (rng.random(n) < 0.01)  # 1 %: left filled after a change
        if ftype == "calc":
            a, b = (x.strip("[] ") for x in m["select_choices_or_calculations"].split("+"))
            values = [_sum(x, y) for x, y in zip(columns[a], columns[b], strict=True)]
        if ftype == "checkbox":
            codes = [c.split(",")[0].strip() for c in
                     m["select_choices_or_calculations"].split("|")]
            for code in codes:
                ticks = rng.random(n) < 0.3
                columns[f"{name}___{code}"] = ["1" if t and p else "0"
                                               for t, p in zip(ticks, filled[form],
                                                               strict=True)]
            continue
        col = [v if p else "" for v, p in zip(values, present, strict=True)]
        if ftype in ("radio", "dropdown"):  # 0.3 %: a code since dropped from the choices
            col = ["9" if v and rng.random() < 0.003 else v for v in col]
        if m["text_validation_type_or_show_slider_number"] == "integer" and name.endswith("7"):
            col = [f"{v}.5" if v and rng.random() < 0.01 else v for v in col]  # pre-validation
        columns[name] = col
    for form in FORMS:
        if form in _REPEATING:
            continue
        status = rng.choice(["0", "1", "2"], n, p=[0.05, 0.15, 0.8])
        columns[f"{form}_complete"] = [s if f else "0" for s, f in zip(status, filled[form],
                                                                          strict=True)]
    for i, row in enumerate(base):
        for name, col in columns.items():
            row[name] = col[i]
    rows = list(base)
    for form in _REPEATING:
        counts = rng.integers(0, 5, n)
        owners = np.repeat(np.arange(n), counts)
        total = len(owners)
        blank = rng.random(total) < 0.01  # an instance saved empty
        reps: list[dict[str, Any]] = []
        for j, i in enumerate(owners):
            first = j == 0 or owners[j - 1] != i
            reps.append({"record_id": ids[i], "redcap_repeat_instrument": form,
                         "redcap_repeat_instance": "1" if first else
                         str(int(reps[-1]["redcap_repeat_instance"]) + 1),
                         "redcap_data_access_group": base[i]["redcap_data_access_group"]})
        for m in meta:
            if m["form_name"] != form or m["field_type"] in ("descriptive", "calc"):
                continue
            if m["field_type"] == "checkbox":
                for code in [c.split(",")[0].strip() for c in
                             m["select_choices_or_calculations"].split("|")]:
                    ticks = rng.random(total) < 0.3
                    for rep, t, b in zip(reps, ticks, blank, strict=True):
                        rep[f"{m['field_name']}___{code}"] = "1" if t and not b else "0"
                continue
            values = _values(rng, m, total)
            present = (rng.random(total) < 0.85) & ~blank
            for rep, v, p in zip(reps, values, present, strict=True):
                rep[m["field_name"]] = v if p else ""
        for rep, b in zip(reps, blank, strict=True):
            rep[f"{form}_complete"] = "0" if b else "2"
        rows += reps
    return rows


def build(out: Path | str, spec: WideSpec = WideSpec()) -> Path:
    """Write the wide project folder at `out` (see README.md)."""
    meta = _field_plan(spec)
    rows = _rows(spec, meta)
    info = {"project_id": 5751, "project_title": "Wide scenario (5,000+ fields, generated)",
            "is_longitudinal": 0, "has_repeating_instruments_or_events": 1,
            "record_autonumbering_enabled": 1, "project_language": "English",
            "missing_data_codes": "", "project_notes": f"tests/scenarios/wide/generate.py "
                                                        f"v{GENERATOR_VERSION} {spec}"}
    return write_folder(out, metadata=meta, records=rows,
                        design=Design.classic(_REPEATING), dags=_DAGS, project_info=info)


def wide_folder(records: int = 1000, *, cache: Path | None = None) -> Path:
    """The wide project with this many records, generated once into `cache` (default
    `var/scenarios/` of the repository) and reused while the generator is unchanged."""
    spec = WideSpec(records=records)
    source = Path(__file__).read_bytes()
    tag = hashlib.sha256(source + repr(spec).encode()).hexdigest()[:10]
    root = cache or _REPO / "var" / "scenarios"
    target = root / f"wide-{records}-v{GENERATOR_VERSION}-{tag}"
    if (target / "records.csv").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wide-", dir=root))
    try:
        build(tmp, spec)
        os.replace(tmp, target)  # whole or not at all; a concurrent builder's copy wins
    except OSError:
        if not (target / "records.csv").exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (created)")
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()
    path = build(args.out, WideSpec(records=args.records))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
