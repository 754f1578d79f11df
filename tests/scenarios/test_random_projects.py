"""Random small projects (Hypothesis): whatever the sandbox serves, pull, validate and
report end with exit 0 or 1 and no traceback.

A project is drawn as a data dictionary (1-3 forms; text fields with any of REDCap's
validations and min/max, radio/dropdown/checkbox with plain, negative or alphabetic
codes, yes/no, true/false, notes, slider, file, descriptive and calc fields; names
that may clash with the tidy frames' key columns; branching logic sane or not) and a
records.csv of 0-4 records whose cells are valid, garbage, non-ASCII or empty. Few
examples (each is a real sandbox and three CLI commands), derandomized in CI.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.fieldtypes import checkbox_columns
from registry.sandbox.folder import METADATA_COLUMNS
from tests.scenarios.e2e import Night

_VALIDATIONS = ["", "integer", "number", "number_2dp_comma_decimal", "date_ymd", "date_dmy",
                "datetime_mdy", "datetime_seconds_ymd", "time", "email", "zipcode",
                "alpha_only", "not_a_validation"]
_BOUNDS = {"integer": ("0", "10"), "number": ("-1.5", "99"), "date_ymd": ("2000-01-01", "today"),
           "datetime_mdy": ("", "now"), "number_2dp_comma_decimal": ("0,00", "5,5")}
_NAMES = ["age", "site", "instance", "visit_date", "dose_mg", "x1", "event", "score", "note",
          "q_2", "arm", "form"]
_CODES = ["1", "2", "3", "-1", "A", "b_2", "0", "10", "99"]
_VALUES = ["", "1", "0", "2", "-1", "A", "12 mg", "3,5", "2021-02-30", "2021-06-01",
           "06-01-2021 10:00", "2021-06-01 10:00:00", "25:61", "a@b.org", "é ü 日本", "1e5",
           "  ", "TRUE", "[x]"]


@st.composite
def projects(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[str], list[list[str]]]:
    forms = draw(st.lists(st.sampled_from(["intake", "visit", "labs", "outcome"]),
                          min_size=1, max_size=3, unique=True))
    fields = [_row("record_id", forms[0], "text")]
    names = iter(draw(st.permutations(_NAMES)))
    for form in forms:
        for _ in range(draw(st.integers(1, 4))):
            name = next(names, None)
            if name is None:
                break
            ftype = draw(st.sampled_from(["text", "text", "radio", "dropdown", "checkbox",
                                          "yesno", "truefalse", "notes", "slider", "file",
                                          "descriptive", "calc"]))
            row = _row(name, form, ftype)
            if ftype == "text":
                v = draw(st.sampled_from(_VALIDATIONS))
                lo, hi = _BOUNDS.get(v, ("", ""))
                row.update(text_validation_type_or_show_slider_number=v,
                           text_validation_min=lo, text_validation_max=hi)
            elif ftype in ("radio", "dropdown", "checkbox"):
                codes = draw(st.lists(st.sampled_from(_CODES), min_size=1, max_size=4,
                                      unique=True))
                row["select_choices_or_calculations"] = " | ".join(
                    f"{c}, Choice {c}" for c in codes)
            elif ftype == "calc":
                other = fields[-1]["field_name"]
                row["select_choices_or_calculations"] = draw(st.sampled_from(
                    [f"[{other}] * 2", "sum(1, 2)", "[nowhere] +", "datediff([a],'today','d')"]))
            if len(fields) > 1 and draw(st.booleans()):
                prev = fields[-1]["field_name"]
                row["branching_logic"] = draw(st.sampled_from(
                    [f"[{prev}] = '1'", f"[{prev}] <> ''", "[missing_field] = '2'",
                     f"[{prev}(1)] = '1' or", "datediff([x], 'today', 'y') > 1"]))
            row["required_field"] = draw(st.sampled_from(["", "y"]))
            fields.append(row)
    columns = ["record_id"]
    for form in forms:
        for row in fields:
            if row["form_name"] == form and row["field_name"] != "record_id" \
                    and row["field_type"] != "descriptive":
                columns += checkbox_columns(row) or [row["field_name"]]
        columns.append(f"{form}_complete")
    n = draw(st.integers(0, 4))
    records = [[str(i + 1)] + [draw(st.sampled_from(_VALUES)) for _ in columns[1:]]
               for i in range(n)]
    return fields, columns, records


def _row(name: str, form: str, ftype: str) -> dict[str, str]:
    row = dict.fromkeys(METADATA_COLUMNS, "")
    row.update(field_name=name, form_name=form, field_type=ftype, field_label=f"{name} ?")
    return row


_COUNTER = itertools.count()


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(project=projects())
def test_any_servable_project_pulls_validates_and_reports(project, tmp_path_factory):
    fields, columns, records = project
    work = tmp_path_factory.mktemp(f"random{next(_COUNTER)}")
    folder = work / "project"
    folder.mkdir()
    _write(folder / "dictionary.csv", METADATA_COLUMNS, [[r[c] for c in METADATA_COLUMNS]
                                                         for r in fields])
    _write(folder / "records.csv", columns, records)
    night = Night(folder, work / "work").run()
    for name, done in night.results.items():
        assert done.code in (0, 1), (name, done.code, done.stderr, fields, records)
        assert "Traceback" not in done.stdout + done.stderr, (name, done.stderr)
    assert len(list(night.out_dir.glob("site-*.pdf"))) == 1


def _write(path: Path, header: list[str] | tuple[str, ...], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
