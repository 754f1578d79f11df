"""The dictionary's min/max rules at their boundaries, "today" and "now" included.

A small classic project (nothing the code knows): a date with min 2000-01-01 and max
`today`, a datetime with max `now`, an integer between 0 and 10 and a number with no
max. Values are drawn on the bounds and one step either side most of the time, so a
date equal to today, a datetime equal to now and a value equal to a bound are always
there: they must pass, one step beyond must be flagged, and nothing else. Through the
real tidy and validate.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from registry.fieldtypes import export_columns
from registry.quality import validate
from registry.sandbox.dictionary import METADATA_COLUMNS
from registry.tidy import tidy

TODAY = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 12, 0)
LOW = dt.date(2000, 1, 1)


def _f(name: str, ftype: str, v: str = "", lo: str = "", hi: str = "") -> dict[str, str]:
    return dict.fromkeys(METADATA_COLUMNS, "") | {
        "field_name": name, "form_name": "enrol", "field_type": ftype, "field_label": name,
        "text_validation_type_or_show_slider_number": v, "text_validation_min": lo,
        "text_validation_max": hi}


DICTIONARY = [_f("study_id", "text"), _f("d", "text", "date_ymd", LOW.isoformat(), "today"),
              _f("ts", "text", "datetime_ymd", "", "now"),
              _f("n", "text", "integer", "0", "10"), _f("x", "text", "number", "1.5", "")]
COLUMNS = export_columns(DICTIONARY)

day = st.one_of(st.sampled_from([TODAY, TODAY - dt.timedelta(1), TODAY + dt.timedelta(1),
                                 LOW, LOW - dt.timedelta(1), LOW + dt.timedelta(1)]),
                st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)))
stamp = st.one_of(st.sampled_from([NOW, NOW - dt.timedelta(minutes=1),
                                   NOW + dt.timedelta(minutes=1),
                                   dt.datetime.combine(TODAY + dt.timedelta(1), dt.time())]),
                  st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2026, 1, 1)).map(
                      lambda t: t.replace(second=0, microsecond=0)))
whole = st.one_of(st.sampled_from([-1, 0, 1, 9, 10, 11]), st.integers(-50, 50))
real = st.one_of(st.sampled_from([1.4, 1.5, 1.6]), st.integers(-5, 5).map(float))
record = st.tuples(st.one_of(st.none(), day), st.one_of(st.none(), stamp),
                   st.one_of(st.none(), whole), st.one_of(st.none(), real))


def _text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


@settings(max_examples=15, deadline=None)
@given(records=st.lists(record, min_size=1, max_size=12))
def test_values_on_a_bound_pass_and_one_step_beyond_is_flagged(
        records: list[tuple[dt.date | None, dt.datetime | None, int | None, float | None]]
) -> None:
    rows = [dict.fromkeys(COLUMNS, "") | {"study_id": str(i), **{
        k: _text(v) for k, v in zip(("d", "ts", "n", "x"), r, strict=True)}}
        for i, r in enumerate(records, 1)]
    res = validate(tidy({"paris": rows}, DICTIONARY), DICTIONARY, [], site_links=None,
                   today=TODAY, now=NOW)
    got = {(f.record_id, f.field) for f in res.failures.itertuples()
           if f.rule_id.endswith(".range")}
    want = set()
    for i, (d, ts, n, x) in enumerate(records, 1):
        if d is not None and not LOW <= d <= TODAY:
            want.add((str(i), "d"))
        if ts is not None and ts > NOW:
            want.add((str(i), "ts"))
        if n is not None and not 0 <= n <= 10:
            want.add((str(i), "n"))
        if x is not None and x < 1.5:
            want.add((str(i), "x"))
    assert got == want
    ranges = {f"dictionary.{c}.range" for c in ("d", "ts", "n", "x")}
    assert set(res.failures["rule_id"]) <= ranges          # no other rule fires
