"""Rows as integers (quality.rowcodes, summary.SiteCodes) and the duplicates found with them.

Each is checked against a plain reading of what they mean, written with Python tuples
and no pandas grouping, on small random frames with every dtype tidy makes and missing
values everywhere (NA equals NA, "" is a value of its own).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from registry.quality.prepare import KEYS, _duplicates
from registry.quality.rowcodes import first_of_group, group_codes, neighbours
from registry.quality.summary import SiteCodes


def _frame(rng: np.random.Generator, n: int, every_field: bool = False) -> pd.DataFrame:
    def text(values: list[str], p_na: float) -> pd.arrays.StringArray:
        out = pd.array(rng.choice(values, n), dtype="string")
        out[rng.random(n) < p_na] = pd.NA
        return out

    instance = pd.array(rng.integers(1, 4, n), dtype="Int64")
    instance[rng.random(n) < 0.1] = pd.NA
    frame = pd.DataFrame({
        "patient_id": text(["p1", "p2"], 0.05), "record_id": text(["r"], 0),
        "site": text(["s"], 0), "event": text(["", "e1"], 0.05),
        "arm": pd.array([1] * n, dtype="Int64"), "form": text(["f"], 0),
        "instance": instance,
        "t": text(["a", "b", ""], 0.3),
        "d": pd.to_datetime(pd.Series(rng.choice(["2020-01-01", "2021-01-01", None], n))),
        "b": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
        "i": pd.array(rng.choice([1, 2, None], n), dtype="Int64"),
        "x": pd.array(rng.choice([1.5, 2.0, None], n), dtype="Float64"),
    })
    fields = list(rng.permutation(["t", "d", "b", "i", "x"])[: rng.integers(1, 6)])
    if every_field:
        fields = ["t", "d", "b", "i", "x"]
    frame = frame[[*KEYS, *fields]]
    frame.index = rng.permutation(n) + 10  # not positions
    return frame


def _cell(value: object) -> object:
    return None if pd.isna(value) else value  # type: ignore[call-overload]


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple[object, ...]]:
    return [tuple(_cell(v) for v in row) for row in frame[columns].itertuples(index=False)]


def test_equal_codes_are_equal_rows_and_numbered_by_first_appearance() -> None:
    rng = np.random.default_rng(3)
    for _ in range(25):
        frame = _frame(rng, int(rng.integers(0, 30)))
        columns = [c for c in frame.columns if c not in ("record_id", "site", "form")]
        codes = group_codes([frame[c] for c in columns])
        rows = _rows(frame, columns)
        numbering: dict[tuple[object, ...], int] = {}
        expected = [numbering.setdefault(row, len(numbering)) for row in rows]
        assert codes.tolist() == expected
        first = {code: i for i, code in reversed(list(enumerate(expected)))}
        assert first_of_group(codes).tolist() == [first[c] for c in expected]


def test_a_duplicate_points_at_the_earliest_equal_instance() -> None:
    rng = np.random.default_rng(4)
    found = 0
    for _ in range(25):
        frame = _frame(rng, int(rng.integers(0, 30)))
        fields = [c for c in frame.columns if c not in KEYS]
        rows = _rows(frame, ["patient_id", "event", *fields])
        instances = [_cell(i) for i in frame["instance"]]
        # instance order, a missing instance last, ties in row order
        order = sorted(range(len(frame)), key=lambda i: (instances[i] is None,
                                                         instances[i] or 0, i))
        earliest: dict[tuple[object, ...], int] = {}
        expected: list[object] = [None] * len(frame)
        for i in order:
            first = earliest.setdefault(rows[i], i)
            expected[i] = None if first == i else instances[first]
        got = _duplicates(frame)
        assert list(got.index) == list(frame.index)
        assert [_cell(v) for v in got] == expected
        found += sum(v is not None for v in expected)
    assert found > 20  # the frames have duplicates to find


def test_neighbours_are_a_stable_sort_and_a_shift_within_each_patient() -> None:
    rng = np.random.default_rng(5)
    for _ in range(25):
        frame = _frame(rng, int(rng.integers(0, 30)), every_field=True)
        patients = pd.factorize(frame["patient_id"])[0]
        previous, following = neighbours(patients, frame["d"], frame["instance"])
        by = frame.assign(pos=np.arange(len(frame))).sort_values(
            ["patient_id", "d", "instance"], kind="stable").groupby("patient_id")["pos"]
        for got, shift in ((previous, 1), (following, -1)):
            want = by.shift(shift).reindex(frame.index).fillna(-1).astype(int)
            assert got.tolist() == want.tolist()


def test_site_codes_read_each_row_as_its_site_text_did() -> None:
    rng = np.random.default_rng(6)
    for _ in range(25):
        n = int(rng.integers(0, 30))
        site = pd.array(rng.choice(["paris", "lyon", "nice", ""], n), dtype="string")
        site[rng.random(n) < 0.2] = pd.NA
        frames = {"f": pd.DataFrame({"site": site})}
        index = {s: i for i, s in enumerate(sorted(rng.choice(["lyon", "nice", ""], 2)))}
        codes = SiteCodes(frames)
        want = frames["f"]["site"].astype(str).map(index).fillna(-1).to_numpy(int)
        assert codes.of("f", index, -1).tolist() == want.tolist()
        assert codes.names() == set(frames["f"]["site"].dropna().astype(str))
