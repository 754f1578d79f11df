"""The candidate index against the candidates listed one by one, whatever its block size."""

from __future__ import annotations

import numpy as np
import pytest

from analyses import candidates
from analyses.candidates import CandidateIndex


def _listed(rows, lo, hi, key, day, k):
    """Set k's candidates by brute force: its key's records present at its day, row order."""
    hit = (key == k) & (lo <= day) & (day < hi)
    return np.sort(rows[hit])


@pytest.mark.parametrize("max_cells, chunk", [(1 << 23, 1 << 21), (40, 7)])
def test_counts_and_selection_are_the_listed_candidates(monkeypatch, max_cells, chunk):
    # (40, 7): blocks grown far past 16 records and the scan cut in chunks of a few sets
    monkeypatch.setattr(candidates, "MAX_CELLS", max_cells)
    monkeypatch.setattr(candidates, "SCAN_CHUNK", chunk)
    rng = np.random.default_rng(5)
    n = 700
    rows = rng.permutation(2 * n)[:n]
    lo = rng.integers(0, 300, n).astype(float)
    hi = lo + rng.integers(1, 120, n)
    hi[:20] = np.inf                                  # followed to the end
    key = rng.integers(0, 3, n)
    q_day = rng.integers(0, 300, 150).astype(float)   # repeated days share a column
    q_key = rng.integers(-1, 3, 150)                  # -1: a set with no key
    index = CandidateIndex(rows, lo, hi, key, q_day, q_key)
    listed = [_listed(rows, lo, hi, key, d, k) if k >= 0 else np.zeros(0, int)
              for d, k in zip(q_day, q_key, strict=True)]
    assert index.counts.tolist() == [len(c) for c in listed]
    # every rank of every set, the last one of a key's last (partial) block too
    sets = np.repeat(np.arange(len(q_day)), index.counts)
    ranks = np.concatenate([np.arange(c) for c in index.counts])
    expected = np.concatenate(listed).tolist()
    assert index.select(sets, ranks).tolist() == expected
    for j in np.flatnonzero(index.counts > 0)[:10]:
        assert index.candidates(int(j)).tolist() == listed[j].tolist()


def test_counts_and_selection_by_hand() -> None:
    # three records of one key: [0, 5), [0, 20), [3, 30); sets on days 4, 10 and 40
    # (past every record's end, so no record's end falls after the last set day)
    index = CandidateIndex(np.array([0, 1, 2]), np.array([0.0, 0.0, 3.0]),
                           np.array([5.0, 20.0, 30.0]), np.array([0, 0, 0]),
                           np.array([4.0, 10.0, 40.0]), np.array([0, 0, 0]))
    assert index.counts.tolist() == [3, 2, 0]
    assert index.select(np.array([0, 0, 0, 1, 1]),
                        np.array([0, 1, 2, 0, 1])).tolist() == [0, 1, 2, 1, 2]
    assert index.candidates(2).tolist() == []


def test_block_size_keeps_each_keys_table_within_max_cells() -> None:
    # 16 records a block, 8 (down to the square root) for a small key
    assert [candidates._block_size(n, 1) for n in (1, 100, 400)] == [8, 10, 16]
    # (8,191 blocks + 1) x 1,024 days is exactly MAX_CELLS (2**23): still 16; one
    # record more needs 8,192 blocks, past it: the block doubles, once
    assert candidates.MAX_CELLS == 2**23
    assert candidates._block_size(16 * 8191, 1024) == 16
    assert candidates._block_size(16 * 8191 + 1, 1024) == 32
    # never past the key's own size, however many days
    assert candidates._block_size(3, 10**7) == 8


def test_presence_records_split_at_every_admission_and_the_day_after_discharge() -> None:
    # row 0: [5, 100), no stay; row 1: [0, 100), admitted on day 5 for good; row 2:
    # [0, 50), in an ICU over days 10-19 (closed). Row 1 splits on day 5, row 0's own
    # first day (the first breakpoint of all). Row 3 has a missing matching value
    # (code -1) and row 4 an empty span: neither is ever a candidate.
    inf = np.inf
    lo, hi = np.array([5.0, 0.0, 0.0, 0.0, 7.0]), np.array([100.0, 100.0, 50.0, 100.0, 7.0])
    codes = np.array([[2], [1], [0], [-1], [0]])
    stays = (np.array([1, 2, 3, 4]), np.array([5.0, 10.0, 1.0, 1.0]),
             np.array([inf, 19.0, 2.0, 2.0]))
    rows, r_lo, r_hi, key = candidates.presence_records(lo, hi, codes, [stays])
    after = np.nextafter(19.0, inf)                    # the day after the discharge day
    assert rows.tolist() == [0, 1, 1, 2, 2, 2]
    assert r_lo.tolist() == [5, 0, 5, 0, 10, after]
    assert r_hi.tolist() == [100, 5, 100, 10, after, 50]
    assert key.tolist() == [[2, 0], [1, 0], [1, 1], [0, 0], [0, 1], [0, 0]]
    # without a time-dependent variable: one record per row, its codes the key
    rows, r_lo, r_hi, key = candidates.presence_records(lo, hi, codes, [])
    assert (rows.tolist(), r_lo.tolist(), r_hi.tolist()) == ([0, 1, 2], [5, 0, 0],
                                                             [100, 100, 50])
    assert key.tolist() == [[2], [1], [0]]


def test_in_intervals_by_hand() -> None:
    # row 0 in [0, 5] and from day 50 on, row 2 in [10, 20] (closed), rows 1 and 3 never;
    # the intervals listed out of row order
    pos, start, stop = np.array([2, 0, 0]), np.array([10.0, 50.0, 0.0]), np.array(
        [20.0, np.inf, 5.0])
    rows, days = np.array([0, 0, 0, 1, 2, 2, 3]), np.array([5.0, 6, 50, 10, 10, 21, 0])
    got = candidates.in_intervals(rows, days, pos, start, stop, 4)
    assert got.tolist() == [True, False, True, False, True, False, False]
    assert candidates.in_intervals(np.array([2]), np.array([20.0]), pos, start, stop,
                                   4).tolist() == [True]
    none = np.zeros(0, np.int64)
    assert candidates.in_intervals(rows, days, none, none * 1.0, none * 1.0,
                                   4).tolist() == [False] * 7
