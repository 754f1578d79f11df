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
    sets = np.repeat(np.flatnonzero(index.counts > 0), 4)
    ranks = (rng.random(len(sets)) * index.counts[sets]).astype(np.int64)
    expected = [listed[s][r] for s, r in zip(sets, ranks, strict=True)]
    assert index.select(sets, ranks).tolist() == expected
    for j in np.flatnonzero(index.counts > 0)[:10]:
        assert index.candidates(int(j)).tolist() == listed[j].tolist()
