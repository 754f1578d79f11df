"""The quality stage on a very wide project: 5,000+ fields over 30+ forms, 1,000 records.

Run: PYTHONPATH=. nice python benchmarks/quality_wide.py [--repeats N] [--gx-rules K]

Builds a classic REDCap project of every field type (`wide_project`: dates with
min/max `today`, date-times, times, integers, numbers with 1-4 decimals and comma
decimals, e-mails, phones, zip codes, radio, dropdown, yes/no, true/false, checkboxes,
sliders, notes, files, calculations, required fields, branching logic within and across
forms), with about 1 error per 1,000 cells injected, and times tidy and `validate()` at
several widths (fields) and sizes (records): min / median of N runs with the load
average. Time per field x record shows whether the check set grows linearly. With
`--gx-rules K`, K of the derived rules are also run through Great Expectations, to
extrapolate what the whole set would cost there.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import numpy as np

from benchmarks.quality_speed import CPU, _load, _times
from registry.fieldtypes import checkbox_columns, export_columns
from registry.quality import validate
from registry.sandbox.dictionary import METADATA_COLUMNS
from registry.tidy import tidy

TODAY = dt.date(2025, 6, 30)
# (suffix, field_type, validation, min, max, choices, required)
_KINDS = (
    ("date", "text", "date_ymd", "2000-01-01", "today", "", "y"),
    ("when", "text", "datetime_ymd", "", "now", "", ""),
    ("clock", "text", "time", "06:00", "22:00", "", ""),
    ("count", "text", "integer", "0", "200", "", "y"),
    ("level", "text", "number_1dp", "0.0", "100.0", "", ""),
    ("ratio", "text", "number_2dp_comma_decimal", "0,00", "10,00", "", ""),
    ("mail", "text", "email", "", "", "", ""),
    ("phone", "text", "phone", "", "", "", ""),
    ("zip", "text", "zipcode", "", "", "", ""),
    ("grade", "radio", "", "", "", "1, Low | 2, Mid | 3, High", "y"),
    ("site", "dropdown", "", "", "", "1, Lung | 2, Skin | 3, Blood | 9, Other", ""),
    ("flag", "yesno", "", "", "", "", "y"),
    ("detail", "text", "", "", "", "", "y"),  # shown when the yes/no before it is Yes
    ("true", "truefalse", "", "", "", "", ""),
    ("signs", "checkbox", "", "", "", "1, Cough | 2, Fever | 3, Rash", ""),
    ("score", "slider", "", "", "", "", ""),
    ("note", "notes", "", "", "", "", ""),
    ("scan", "file", "", "", "", "", ""),
    ("days", "calc", "", "", "", "", ""),  # days from the form's date to today
    ("since", "text", "integer", "0", "", "", ""),  # shown when the first form's flag
)


def wide_project(fields: int = 5200, forms: int = 32, seed: int = 1) -> list[dict[str, str]]:
    """A data dictionary of about `fields` fields over `forms` forms, every type."""
    per_form = max(len(_KINDS), fields // forms)
    rows = [dict.fromkeys(METADATA_COLUMNS, "") | {
        "field_name": "record_id", "form_name": "form_01", "field_type": "text",
        "field_label": "Record ID"}]
    for f in range(1, forms + 1):
        form = f"form_{f:02d}"
        for k in range(per_form):
            suffix, ftype, validation, lo, hi, choices, required = _KINDS[k % len(_KINDS)]
            block = k // len(_KINDS)
            name = f"f{f:02d}_{block:03d}_{suffix}"
            row = dict.fromkeys(METADATA_COLUMNS, "") | {
                "field_name": name, "form_name": form, "field_type": ftype,
                "field_label": f"{suffix.title()} {block + 1} of form {f}",
                "select_choices_or_calculations": choices,
                "text_validation_type_or_show_slider_number": validation,
                "text_validation_min": lo, "text_validation_max": hi,
                "required_field": required}
            if suffix == "detail":
                row["branching_logic"] = f"[f{f:02d}_{block:03d}_flag] = '1'"
            if suffix == "since":
                row["branching_logic"] = "[f01_000_flag] = '1'"  # across forms
            if suffix == "days":
                row["select_choices_or_calculations"] = (
                    f"datediff([f{f:02d}_{block:03d}_date], 'today', 'd')")
            rows.append(row)
    return rows


def _clean_column(meta: dict[str, str], rng: np.random.Generator, n: int,
                  done: dict[str, np.ndarray]) -> np.ndarray:
    """Clean values of one field for n records (the fields before it already made)."""
    name, ftype = meta["field_name"], meta["field_type"]
    validation = meta["text_validation_type_or_show_slider_number"]
    if ftype == "calc":
        days = (np.datetime64(TODAY) - done[name.replace("_days", "_date")].astype(
            "datetime64[D]")).astype(int)
        return days.astype(str).astype(object)
    if name.endswith("_detail"):
        return np.where(done[name.replace("_detail", "_flag")] == "1", "seen", "").astype(
            object)
    if name.endswith("_since"):
        shown = done.get("f01_000_flag", np.full(n, "0")) == "1"
        return np.where(shown, rng.integers(0, 50, n).astype(str), "").astype(object)
    days = np.datetime64(TODAY) - rng.integers(30, 8000, n).astype("timedelta64[D]")
    iso = days.astype(str)
    if validation == "date_ymd":
        return iso.astype(object)
    if validation == "datetime_ymd":
        return np.char.add(iso, np.char.add(" ", np.char.zfill(
            rng.integers(0, 24, n).astype(str), 2))).astype(object) + ":15"
    if validation == "time":
        return np.char.add(np.char.zfill(rng.integers(6, 22, n).astype(str), 2),
                           np.char.add(":", np.char.zfill(rng.integers(0, 60, n).astype(str),
                                                          2))).astype(object)
    fixed = {"integer": lambda: rng.integers(0, 200, n).astype(str),
             "number_1dp": lambda: np.char.mod("%.1f", rng.uniform(0, 100, n)),
             "number_2dp_comma_decimal": lambda: np.char.replace(
                 np.char.mod("%.2f", rng.uniform(0, 10, n)), ".", ","),
             "email": lambda: np.char.add(np.char.add("p", rng.integers(1, 999, n).astype(
                 str)), "@example.org"),
             "phone": lambda: np.full(n, "615-322-2222"),
             "zipcode": lambda: np.full(n, "37212")}
    if validation in fixed:
        return fixed[validation]().astype(object)
    by_type = {"radio": lambda: rng.integers(1, 4, n).astype(str),
               "dropdown": lambda: rng.choice(["1", "2", "3", "9"], n),
               "yesno": lambda: rng.integers(0, 2, n).astype(str),
               "truefalse": lambda: rng.integers(0, 2, n).astype(str),
               "slider": lambda: rng.integers(0, 101, n).astype(str),
               "notes": lambda: np.full(n, "free text"), "file": lambda: np.full(n, "scan.pdf")}
    return by_type[ftype]().astype(object) if ftype in by_type else np.full(n, "", object)


_ERRORS = {  # what an injected error writes, by suffix
    "date": "2023-02-30", "when": "2052-01-01 10:00", "clock": "23:30", "count": "900",
    "level": "12", "ratio": "abc", "mail": "not-an-email", "phone": "12345", "zip": "ABCDE",
    "grade": "7", "site": "5", "flag": "2", "true": "5", "score": "150",
}


def wide_records(metadata: list[dict[str, str]], records: int = 1000, seed: int = 1,
                 error_rate: float = 0.001) -> tuple[list[dict[str, str]], int]:
    """Flat REDCap rows (one per record, every form non-repeating) and errors injected."""
    rng = np.random.default_rng(seed)
    done: dict[str, np.ndarray] = {"record_id": np.arange(1, records + 1).astype(str)}
    for meta in metadata[1:]:
        if meta["field_type"] == "checkbox":
            for col in checkbox_columns(meta):
                done[col] = rng.integers(0, 2, records).astype(str).astype(object)
            continue
        done[meta["field_name"]] = _clean_column(meta, rng, records, done)
    injected = 0
    for meta in metadata[1:]:
        suffix = meta["field_name"].rsplit("_", 1)[-1]
        if suffix in _ERRORS:
            hit = rng.random(records) < error_rate
            done[meta["field_name"]][hit] = _ERRORS[suffix]
            injected += int(hit.sum())
    columns = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance",
               "redcap_data_access_group", *export_columns(metadata)[1:]]
    blank = np.full(records, "", dtype=object)
    table = [done.get(c, blank) for c in columns]
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*table, strict=True)]
    return rows, injected


def main(shapes: list[tuple[int, int]], repeats: int, gx_rules: int, forms: int = 32) -> None:
    for fields, records in shapes:
        metadata = wide_project(fields, forms)
        rows, injected = wide_records(metadata, records)
        t_tidy, _, frames = _times(lambda rows=rows, metadata=metadata: tidy(
            {"site": rows}, metadata, repeating=()), 1)
        tidy_cpu = min(CPU)
        s_min, s_med, result = _times(lambda frames=frames, metadata=metadata: validate(
            frames, metadata, [], site_links=None, today=TODAY), repeats)
        cpu = min(CPU)
        n_fields, cells = len(metadata) - 1, (len(metadata) - 1) * records
        errors = int((result.rule_results["status"] == "error").sum())
        print(f"{n_fields} fields x {records} records: tidy {t_tidy:.1f} s wall, {tidy_cpu:.1f} "
              f"s CPU; validate min "
              f"{s_min:.2f} s, median {s_med:.2f} s wall, {cpu:.2f} s CPU ({1e6 * cpu / cells:.2f}"
              f" us CPU per field x record); {result.rule_results['rule_id'].nunique()} rules, "
              f"{len(result.failures)} flags for {injected} injected, {errors} error "
              f"results [{_load()}]")
        if gx_rules:
            _gx_sample(frames, metadata, gx_rules)


def _gx_sample(frames: Any, metadata: list[dict[str, str]], k: int) -> None:
    """Time k derived rules through GX and through the engine, on the same frames."""
    import great_expectations  # noqa: F401  (import cost kept out of the timing)

    from registry.quality.derived import add_dictionary_columns, derive_rules
    from registry.quality.engine import run_rules
    from registry.quality.gx_adapter import run_rules as run_gx
    from registry.quality.runner import _frames_of

    form_frames, _ = _frames_of(frames)
    shape = frames.schema
    ready, _ = add_dictionary_columns(form_frames, shape, today=TODAY)
    rules = [r for r in derive_rules(shape, today=TODAY).rules if r.type != "conformance"]
    sample = rules[:: max(1, len(rules) // k)][:k]
    g, _, _ = _times(lambda: run_gx(ready, sample), 1)
    e, _, _ = _times(lambda: run_rules(ready, sample), 3)
    print(f"  {len(sample)} of {len(rules)} derived rules: GX {g:.1f} s ({g / len(sample):.3f} "
          f"s a rule -> {g / len(sample) * len(rules) / 60:.0f} min for all), engine "
          f"{e:.3f} s [{_load()}]")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gx-rules", type=int, default=0)
    parser.add_argument("--forms", type=int, default=32,
                        help="forms the fields are spread over (each has at least one of "
                             "every kind of field)")
    parser.add_argument("--shapes", nargs="*", default=["1300x1000", "2600x1000",
                                                        "5200x250", "5200x500", "5200x1000"])
    args = parser.parse_args()
    main([tuple(int(v) for v in s.split("x")) for s in args.shapes],  # type: ignore[misc]
         args.repeats, args.gx_rules, args.forms)
