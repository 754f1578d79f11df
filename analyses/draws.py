"""M re-drawn matchings, stacked: rows grouped by set, sets grouped by draw.

Which controls a draw picks moves the hazard ratio at the study's size as much as the
sampling of patients does, so the headline combines many draws (`analyses.combine`).
The draws here are random like `matching.match`'s (up to `ratio` controls uniformly
among a set's candidates, without replacement) but vectorised over all draws and sets,
and their random numbers are keyed by (master seed, exposed patient, draw, pick):
a counter-based generator (SplitMix64), so that the analyses of the same study on
other data (all records, flagged ones included) use common random numbers, and the
draws do not depend on the order of anything. The single draw of the paper's design
stays `matching.match(seed)`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from analyses.matching import MatchPlan

__all__ = ["Stack", "draw_stack", "uniforms"]

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea & Flood, OOPSLA 2014), vectorised."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
        return z ^ (z >> np.uint64(31))


def uniforms(seed: int, keys: np.ndarray, draws: np.ndarray, pick: int) -> np.ndarray:
    """U(0, 1) for every (draw, key): a pure function of (seed, key, draw, pick)."""
    with np.errstate(over="ignore"):
        base = _splitmix(np.array([np.uint64(seed & 0xFFFFFFFF) * np.uint64(0x100000001B3)
                                   + np.uint64(pick)], np.uint64))[0]
        k = _splitmix(keys.astype(np.uint64) ^ base)
        h = _splitmix(k[None, :] + draws.astype(np.uint64)[:, None]
                      * np.uint64(0xD1B54A32D192ED03))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def patient_keys(pids: np.ndarray) -> np.ndarray:
    """A stable 32-bit key per patient_id (the same patient, the same random numbers)."""
    return np.array([zlib.crc32(str(p).encode()) for p in pids], np.uint64)


@dataclass(frozen=True)
class Stack:
    """Every member of every set of draws `draws[0] ... draws[-1]`, as arrays.

    Set block b (a set of one draw) is rows `set_start[b]:set_start[b + 1]`, exposed
    first; `set_draw[b]` its draw (0-based, local), `set_index[b]` the set's number in
    the plan. Per row: `member` (row position in the plan), `exposed`, `index_day`,
    `time`, `event`, `crossover` (days from the index day to a control's own exposure,
    NaN if none).
    """

    n_draws: int
    set_start: np.ndarray
    set_draw: np.ndarray
    set_index: np.ndarray
    member: np.ndarray
    exposed: np.ndarray
    index_day: np.ndarray
    time: np.ndarray
    event: np.ndarray
    crossover: np.ndarray

    @property
    def row_draw(self) -> np.ndarray:
        return np.repeat(self.set_draw, np.diff(np.append(self.set_start, len(self.member))))

    def subset(self, keep: np.ndarray) -> Stack:
        """The rows where `keep`, sets left empty dropped (a subgroup of the rows)."""
        sizes = np.diff(np.append(self.set_start, len(self.member)))
        block = np.repeat(np.arange(len(sizes)), sizes)
        kept = np.bincount(block[keep], minlength=len(sizes))
        live = kept > 0
        starts = np.cumsum(kept[live]) - kept[live]
        return Stack(self.n_draws, starts, self.set_draw[live], self.set_index[live],
                     self.member[keep], self.exposed[keep], self.index_day[keep],
                     self.time[keep], self.event[keep], self.crossover[keep])


def _ranks(u: np.ndarray, n: np.ndarray, k: int) -> np.ndarray:
    """Per row of `u` (one set of one draw): k distinct ranks in [0, n), uniform.

    Sequential selection: the i-th pick is uniform over the n - i ranks not taken yet,
    placed by stepping over the taken ones in increasing order."""
    out = np.zeros((len(n), k), np.int64)
    for i in range(k):
        r = np.floor(u[:, i] * np.maximum(n - i, 1)).astype(np.int64)
        taken = np.sort(out[:, :i], axis=1)
        for j in range(i):
            r += r >= taken[:, j]
        out[:, i] = r
    return out


def draw_stack(plan: MatchPlan, ratio: int, horizon: float, seed: int, first: int,
               n: int, keys: np.ndarray | None = None) -> Stack:
    """Draws `first ... first + n - 1` of the matching of `plan` (controls reused).

    `keys`: a random-number key per set (default: from its exposed patient's id).
    """
    n_sets = len(plan.exposed)
    exposed = np.asarray(plan.exposed, np.int64)
    keys = patient_keys(plan.pids[exposed]) if keys is None else keys
    k_of = np.minimum(ratio, plan.n_candidates).astype(np.int64)
    draws = np.arange(first, first + n)
    # ranks for every (draw, set): (n * n_sets) x ratio
    u = np.stack([uniforms(seed, keys, draws, i).reshape(-1) for i in range(ratio)], axis=1)
    n_cand = np.tile(plan.n_candidates, n)
    ranks = _ranks(u, n_cand, ratio)
    set_of = np.tile(np.arange(n_sets), n)
    take = np.arange(ratio)[None, :] < np.tile(k_of, n)[:, None]
    picked = np.zeros(ranks.shape, np.int64)
    if take.any():
        picked[take] = plan.index.select(np.repeat(set_of, ratio)[take.reshape(-1)],
                                         ranks[take])
    picked = np.where(take, picked, np.iinfo(np.int64).max)
    picked.sort(axis=1)
    sizes = np.tile(k_of, n) + 1
    starts = np.cumsum(sizes) - sizes
    members = np.empty(int(sizes.sum()), np.int64)
    members[starts] = np.tile(exposed, n)
    is_control = np.ones(len(members), bool)
    is_control[starts] = False
    members[is_control] = picked[take]        # the first k of each sorted row
    is_exp = np.zeros(len(members), np.int64)
    is_exp[starts] = 1
    t_rows = np.repeat(plan.exp_day[np.tile(exposed, n)], sizes)
    dt = plan.end[members] - t_rows
    cross = plan.exp_day[members] - t_rows
    cross[starts] = np.nan
    return Stack(n, starts, np.repeat(np.arange(n), n_sets), set_of, members, is_exp, t_rows,
                 np.minimum(dt, horizon), (plan.event[members] & (dt <= horizon)).astype(
                     np.int64), cross)
