"""The eligible controls of every matched set, without listing them: presence records.

A patient is a candidate control at day t while it is under observation, alive,
event-free and not yet exposed (`entry <= t < min(end, exposure day)`) and has the
exposed patient's values of the exact-matching variables at t. Time-dependent
variables (ICU stays) split each patient's time into pieces of constant value; each
piece is one *presence record* `[lo, hi)` under one *key* (the tuple of matching
values). The candidates of a set at day t are the records of its key present at t, in
row order. `CandidateIndex` counts them and finds the r-th of them per set without
building the lists: listing them for every exposed patient is what made planning
quadratic in patients (issue #14).

How: each key's records, in row order, are cut into blocks of 16 (more where the key
is large, so that its table stays under `MAX_CELLS`); per distinct set day the number
present before each block comes from one difference table (done once, at planning), so
the r-th candidate is found by a binary search over the blocks and a scan of one block,
vectorised over all the draws of all sets at once (in chunks of `SCAN_CHUNK` cells).
Memory and time are linear in records + blocks x distinct days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CandidateIndex", "presence_records"]


def presence_records(lo: np.ndarray, hi: np.ndarray, base_codes: np.ndarray,
                     timedep: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row, lo, hi, key columns) of every piece of time a row may serve as a control.

    `lo`/`hi`: per row the days `[lo, hi)` it is a candidate at all (`lo >= hi`: never);
    `base_codes`: (rows x baseline variables) integer codes, -1 = missing (matches
    nothing); `timedep`: per time-dependent variable the (row, start, stop) of its
    intervals, closed `[start, stop]` (stop may be inf), the value being "inside one".
    Returns rows, lo, hi and a (records x variables) array of key values.
    """
    n = len(lo)
    ok = (lo < hi) & np.all(base_codes >= 0, axis=1)
    rows = np.flatnonzero(ok)
    if not timedep:
        return rows, lo[rows], hi[rows], base_codes[rows]
    # breakpoints inside [lo, hi): every interval's start and the day after its stop
    bp_rows, bp_days = [rows], [lo[rows]]
    for pos, start, stop in timedep:
        after = np.nextafter(stop, np.inf)
        for day in (start, after):
            inside = ok[pos] & (day > lo[pos]) & (day < hi[pos])
            bp_rows.append(pos[inside])
            bp_days.append(day[inside])
    r = np.concatenate(bp_rows)
    d = np.concatenate(bp_days)
    order = np.lexsort((d, r))
    r, d = r[order], d[order]
    keep = np.ones(len(r), bool)
    keep[1:] = (r[1:] != r[:-1]) | (d[1:] != d[:-1])
    r, d = r[keep], d[keep]
    end = np.empty(len(r))
    same_next = np.zeros(len(r), bool)
    same_next[:-1] = r[1:] == r[:-1]
    end[same_next] = d[1:][same_next[:-1]]
    end[~same_next] = hi[r[~same_next]]
    values = [base_codes[r]]
    for pos, start, stop in timedep:
        values.append(in_intervals(r, d, pos, start, stop, n)[:, None].astype(np.int64))
    return r, d, end, np.concatenate(values, axis=1)


def in_intervals(rows: np.ndarray, days: np.ndarray, pos: np.ndarray, start: np.ndarray,
                 stop: np.ndarray, n: int) -> np.ndarray:
    """Per (row, day): is the day inside one of the row's closed intervals?"""
    if len(pos) == 0 or len(rows) == 0:
        return np.zeros(len(rows), bool)
    order = np.argsort(pos, kind="stable")
    pos, start, stop = pos[order], start[order], stop[order]
    first = np.searchsorted(pos, np.arange(n + 1))
    count = (first[1:] - first[:-1])[rows]
    q = np.repeat(np.arange(len(rows)), count)
    offset = np.arange(len(q)) - np.repeat(np.cumsum(count) - count, count)
    idx = first[:-1][rows][q] + offset
    hit = (start[idx] <= days[q]) & (days[q] <= stop[idx])
    return np.bincount(q[hit], minlength=len(rows)) > 0


#: At most this many cells in a key's table of counts (blocks x distinct set days): the
#: blocks grow past 16 records where a key holds more (at 1000x, 16-record blocks made a
#: 2.7 GB table for one plan and the bootstrap planned 100 more).
MAX_CELLS = 1 << 23
#: `select` scans at most this many (query, record) pairs at a time (memory, not speed).
SCAN_CHUNK = 1 << 21


@dataclass(frozen=True)
class _Key:
    """One key's records in row order, cut in blocks; per set day the counts by block."""

    rows: np.ndarray         # record -> row position, ascending
    lo: np.ndarray
    hi: np.ndarray
    block: int               # block size
    queries: np.ndarray      # set numbers answered by this key
    cum: np.ndarray          # (blocks + 1) x distinct days: candidates before each block


def _block_size(n_rows: int, n_days: int) -> int:
    """16 records a block (8 for a small key), more where the table would pass MAX_CELLS."""
    block = min(16, max(8, math.isqrt(max(n_rows, 1))))
    while (-(-n_rows // block) + 1) * n_days > MAX_CELLS and block < n_rows:
        block *= 2
    return block


def _counts(lo: np.ndarray, hi: np.ndarray, block: int, days: np.ndarray) -> np.ndarray:
    """(blocks + 1) x len(days): records with lo <= day < hi before each block (int32).

    A record adds 1 from the first day >= lo to the last day < hi (a difference table
    summed along the days, then along the blocks): the same counts as
    searchsorted(lo, day, right) - searchsorted(hi, day, right) per block."""
    n_blocks = -(-len(lo) // block)
    width = len(days) + 1
    blk = np.arange(len(lo)) // block + 1
    first = np.searchsorted(days, lo, "left")
    past = np.searchsorted(days, hi, "left")
    diff = (np.bincount(blk * width + first, minlength=(n_blocks + 1) * width)
            - np.bincount(blk * width + past, minlength=(n_blocks + 1) * width))
    table = diff.reshape(n_blocks + 1, width)[:, :-1].astype(np.int32)
    np.cumsum(table, axis=1, out=table)
    np.cumsum(table, axis=0, out=table)
    return table


class CandidateIndex:
    """Count and select the candidates of each set (see the module docstring)."""

    def __init__(self, rec_rows: np.ndarray, rec_lo: np.ndarray, rec_hi: np.ndarray,
                 rec_key: np.ndarray, q_day: np.ndarray, q_key: np.ndarray) -> None:
        """`rec_key`/`q_key`: integer key ids of the records and of the sets (-1: none)."""
        self.n_sets = len(q_day)
        self.q_day = q_day
        self.counts = np.zeros(self.n_sets, np.int64)
        self._key_of = np.full(self.n_sets, -1, np.int64)
        self._slot = np.zeros(self.n_sets, np.int64)   # the set's day column in its key
        self._keys: list[_Key] = []
        order = np.lexsort((rec_lo, rec_rows, rec_key))
        rec_rows, rec_lo, rec_hi, rec_key = (rec_rows[order], rec_lo[order], rec_hi[order],
                                             rec_key[order])
        for kid in np.unique(q_key[q_key >= 0]):
            a = int(np.searchsorted(rec_key, kid, "left"))
            b = int(np.searchsorted(rec_key, kid, "right"))
            queries = np.flatnonzero(q_key == kid)
            rows, lo, hi = rec_rows[a:b], rec_lo[a:b], rec_hi[a:b]
            days, slot = np.unique(q_day[queries], return_inverse=True)
            block = _block_size(len(rows), len(days))
            cum = _counts(lo, hi, block, days)
            self._key_of[queries] = len(self._keys)
            self._slot[queries] = slot.reshape(-1)
            self.counts[queries] = cum[-1][slot.reshape(-1)]
            self._keys.append(_Key(rows, lo, hi, block, queries, cum))

    def select(self, sets: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Row position of the `ranks[i]`-th (0-based) candidate of set `sets[i]`."""
        out = np.empty(len(sets), np.int64)
        kid = self._key_of[sets]
        for k in np.unique(kid):
            if k < 0:
                raise ValueError("select on a set without candidates")
            key = self._keys[int(k)]
            at_all = np.flatnonzero(kid == k)
            step = max(1, SCAN_CHUNK // key.block)
            for c in range(0, len(at_all), step):
                at = at_all[c:c + step]
                out[at] = self._select_in(key, sets[at], ranks[at])
        return out

    def _select_in(self, key: _Key, sets: np.ndarray, r: np.ndarray) -> np.ndarray:
        slot = self._slot[sets]
        # the block holding rank r: the last b with cum[b] <= r (binary search)
        lo = np.zeros(len(sets), np.int64)
        hi = np.full(len(sets), key.cum.shape[0] - 1, np.int64)
        while True:
            open_ = hi - lo > 1
            if not open_.any():
                break
            mid = (lo + hi) // 2
            below = key.cum[mid, slot] <= r
            lo = np.where(open_ & below, mid, lo)
            hi = np.where(open_ & ~below, mid, hi)
        blk = lo
        r_in = r - key.cum[blk, slot]
        idx = (blk[:, None] * key.block + np.arange(key.block)[None, :]).astype(np.int32)
        # past the end: the key's last record again, which comes after the r_in-th
        # present record of the block (r_in < the block's count), so it is never picked
        np.minimum(idx, len(key.rows) - 1, out=idx)
        day = self.q_day[sets][:, None]
        present = (key.lo[idx] <= day) & (day < key.hi[idx])
        seen = np.cumsum(present, axis=1, dtype=np.int16 if key.block < 2**15 else np.int32)
        j = np.argmax(seen > r_in[:, None], axis=1)
        return key.rows[idx[np.arange(len(sets)), j]]

    def candidates(self, j: int) -> np.ndarray:
        """Every candidate of set j, in row order (for draws that exclude used controls)."""
        k = int(self._key_of[j])
        if k < 0:
            return np.zeros(0, np.int64)
        key = self._keys[k]
        t = self.q_day[j]
        return key.rows[(key.lo <= t) & (t < key.hi)]
