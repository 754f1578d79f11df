"""The headline draws' random numbers (`analyses.draws`): SplitMix64, keyed uniforms, ranks.

The stream is part of the result: another stream gives other draws, so another
headline hazard ratio for the same seed and data. SplitMix64 is checked against the
reference outputs of Vigna's splitmix64.c (seed 0), the uniforms against values
pinned when the design was fixed, and the ranks for what the matching needs of them.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

from analyses.cohort import build_cohort
from analyses.draws import _ranks, _splitmix, draw_stack, patient_keys, uniforms
from analyses.matching import plan_matching
from tests.analyses.synth import frames, jak_cni, simulate

_GOLDEN = 0x9E3779B97F4A7C15


def test_splitmix_gives_the_reference_outputs() -> None:
    # splitmix64.c seeded with 0: state += golden, then the output function; _splitmix(x)
    # is the output for the state x + golden
    states = np.array([(k * _GOLDEN) % 2 ** 64 for k in range(4)], np.uint64)
    assert [int(v) for v in _splitmix(states)] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]


def test_uniforms_are_pinned_and_keyed_by_seed_key_draw_and_pick() -> None:
    keys = np.array([1, 2, 3], np.uint64)
    u = uniforms(1, keys, np.array([0, 1]), 0)
    assert u.shape == (2, 3)
    assert u == pytest.approx(np.array([[0.44631313, 0.4390993, 0.37257329],
                                        [0.31413957, 0.87804045, 0.67541594]]), abs=1e-8)
    # a pure function of (seed, key, draw, pick): the same numbers for a key alone, a
    # draw alone, and different ones for another seed or pick
    assert uniforms(1, keys[2:], np.array([1]), 0)[0, 0] == u[1, 2]
    for other in (uniforms(2, keys, np.array([0, 1]), 0), uniforms(1, keys, np.array([0, 1]), 1),
                  uniforms(1, keys + np.uint64(3), np.array([0, 1]), 0)):
        assert not np.isin(other, u).any()
    assert uniforms(2 ** 32 - 1, keys, np.array([1]), 1) == pytest.approx(
        np.array([[0.72314594, 0.76067886, 0.87712917]]), abs=1e-8)
    # the seed is read modulo 2 ** 32
    assert np.array_equal(uniforms(1 + 2 ** 32, keys, np.array([0, 1]), 0), u)


def test_a_large_seed_wraps_around_silently() -> None:
    # the products wrap modulo 2 ** 64 on purpose: no overflow warning reaches the log
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        uniforms(2 ** 32 - 1, np.array([2 ** 32 - 1], np.uint64), np.array([2 ** 20]), 7)


def test_uniforms_fill_the_unit_interval_at_53_bits() -> None:
    u = uniforms(20260101, np.arange(2000, dtype=np.uint64), np.arange(50), 3)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    # the 53 high bits: every value is a multiple of 2 ** -53 and not of 2 ** -40 for most
    scaled = u * 2.0 ** 53
    assert np.array_equal(scaled, np.floor(scaled))
    assert (scaled % 2 ** 13 != 0).mean() > 0.99


def test_patient_keys_are_the_crc32_of_the_id() -> None:
    keys = patient_keys(np.array(["P001", 17, "P001"], dtype=object))
    assert keys.dtype == np.uint64
    assert list(keys) == [zlib.crc32(b"P001"), zlib.crc32(b"17"), zlib.crc32(b"P001")]


def test_ranks_are_distinct_in_range_and_uniform() -> None:
    rng = np.random.default_rng(5)
    n = np.array([5] * 20000 + [2] * 10 + [1] * 10)
    u = rng.random((len(n), 3))
    r = _ranks(u, n, 3)
    assert r.shape == (len(n), 3) and r.dtype == np.int64
    big = r[:20000]
    assert (np.sort(big, axis=1)[:, 1:] != np.sort(big, axis=1)[:, :-1]).all()
    assert big.min() == 0 and big.max() == 4
    # each of the 5 ranks is picked as often at each position (3 x 20000 / 5 each)
    for i in range(3):
        counts = np.bincount(big[:, i], minlength=5)
        assert (abs(counts - 4000) < 250).all(), counts
    # fewer candidates than picks: the first n picks are a permutation of 0 .. n-1
    assert {tuple(sorted(row[:2])) for row in r[20000:20010]} == {(0, 1)}
    assert set(r[20010:, 0]) == {0}


def test_ranks_follow_sequential_selection() -> None:
    # n = 4; u = 0.6 -> rank 2; then 3 left: u = 0.5 -> 1 (below 2, kept); then 2 left:
    # u = 0.99 -> 1, stepping over 1 and 2 -> 3
    r = _ranks(np.array([[0.6, 0.5, 0.99]]), np.array([4]), 3)
    assert r.tolist() == [[2, 1, 3]]
    r = _ranks(np.array([[0.0, 0.0, 0.0]]), np.array([4]), 3)
    assert r.tolist() == [[0, 1, 2]]


def test_a_chunk_of_draws_is_those_draws_of_the_whole_stack() -> None:
    # the headline draws its matchings in chunks: draws 3 and 4 alone are the same sets
    # as draws 3 and 4 of one stack of five (the random numbers are keyed by the draw)
    spec = jak_cni(seed_repeats=0)
    plan = plan_matching(build_cohort(spec, frames(simulate(200, 3, 0.6))), spec)
    whole = draw_stack(plan, 3, 365.0, 11, 0, 5)
    chunk = draw_stack(plan, 3, 365.0, 11, 3, 2)
    late = whole.row_draw >= 3
    assert chunk.n_draws == 2 and set(chunk.set_draw) == {0, 1}
    assert np.array_equal(chunk.member, whole.member[late])
    assert np.array_equal(chunk.event, whole.event[late])
    assert not np.array_equal(chunk.member, whole.member[whole.row_draw < 2])
