"""Pinned results of `run_study` on fixed generator registries.

The values below were computed with the code before the speed-up of the analyses
(branch perf-analyses), so any change to the matched sets, the main HR / CI, the other
analyses, Table 1, infections or the seed spread shows up here. Digests are SHA-256 of
the frames as CSV (row order and dtypes included).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest

from analyses import run_study
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy
from tests.analyses.synth import jak_cni


def _digest(frame: Any) -> str:
    # 10 significant digits: the Kaplan-Meier CIs (numpy's log/exp) differ in the last bits
    # between CPUs (SIMD code paths), which full-precision digests turned into failures on
    # an unchanged tree; a real change of the numbers moves far more than 1e-10
    return hashlib.sha256(frame.to_csv(index=False, float_format="%.10g").encode()).hexdigest()


def _num(v: float | None) -> float | None:
    return None if v is None else float(v)


def fingerprint(patients: int, seed_repeats: int) -> dict[str, Any]:
    """What the pins compare: numbers rounded to nothing, frames as digests.

    The one-draw analyses (the paper's design draw, its subgroups, all records matched
    again with the same seed, controls censored at crossover) are refitted here from
    `run_study`'s design draw, as `run_study` fitted them before the headline became a
    combination of re-drawn matchings: the matching and the Cox code are pinned."""
    from analyses import censor_at_crossover, cox, kaplan_meier, match
    from analyses.cohort import build_cohort

    reg = generate(GeneratorParams(seed=2025, patients=patients, sites=5, error_rate=0.1))
    fr = tidy(reg.rows_by_site(), reg.schema())
    ids = sorted(fr.patients["patient_id"])
    spec = jak_cni(seed_repeats=seed_repeats)
    res = run_study(spec, fr, excluded=set(ids[::20]), seed=20250101)
    rows = res.design_rows
    assert res.infections is not None
    everyone = match(build_cohort(spec, fr, frozenset()), spec, 20250101).rows
    fits = [("main", rows)] + [(sg.name, rows[np.logical_and.reduce(
        [(rows[c] == v).fillna(False).to_numpy(bool) for c, v in sg.items]
    )]) for sg in spec.subgroups] + [("all records", everyone),
                                     ("censor at crossover", censor_at_crossover(rows))]
    coxes = [(n, cox(r, n, spec.variance)) for n, r in fits]
    main = coxes[0][1]
    assert res.analysis("paper's design").estimate.log_hr == pytest.approx(
        math.log(main.hr), rel=1e-12)   # type: ignore[arg-type]
    matched = res.matched.copy()
    for col in ("rp_ild", "icu_at_index"):      # the CSV now writes booleans as 0/1
        matched[col] = matched[col].astype("boolean")
    return {
        "main": [_num(v) for v in (main.hr, main.ci_low, main.ci_high, main.p, main.se_model,
                                   main.se_robust)],
        "analyses": [(n, c.n_sets, c.n_controls, c.events, _num(c.hr), _num(c.se_robust))
                     for n, c in coxes],
        "matched": _digest(matched),
        "match_rows": _digest(res.match.rows),
        "km": [_digest(kaplan_meier(r, n, spec.km_times).steps) for n, r in fits],
        "balance": _digest(res.balance.table),
        "infections": [_num(v) for v in (res.infections.rate_ratio, res.infections.ci_low,
                                         res.infections.ci_high)],
        "flow": {k: v for k, v in res.flow.items() if k != "exposed_before_entry"},
    }


def _check(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["matched"] == want["matched"]
    assert got["match_rows"] == want["match_rows"]
    assert got["flow"] == want["flow"]
    assert got["km"] == want["km"]
    assert got["balance"] == want["balance"]
    assert got["main"] == pytest.approx(want["main"], rel=1e-12)
    assert len(got["analyses"]) == len(want["analyses"])
    for g, w in zip(got["analyses"], want["analyses"], strict=True):
        assert g[:4] == w[:4]
        assert g[4:] == pytest.approx(w[4:], rel=1e-12)
    assert got["infections"] == pytest.approx(want["infections"], rel=1e-12)


PINNED_234: dict[str, Any] = {'main': [1.999999999043273,
          0.8883806162906975,
          4.50257459789533,
          0.0941090834373985,
          0.4140393355978674,
          0.3356382892367708],
 'analyses': [('main', 28, 56, 31, 1.999999999043273, 0.3356382892367708),
              ('ICU at index', 14, 28, 18, 2.4867958712289333, 0.4708593300410897),
              ('No ICU at index', 14, 28, 13, 1.5649778198735815, 0.49343123606109907),
              ('RP-ILD', 21, 42, 27, 2.0698598699422885, 0.3730921569454538),
              ('all records', 30, 60, 37, 1.2299491751751446, 0.30457098158401613),
              ('censor at crossover', 28, 56, 30, 2.1240668870738375, 0.34169740715694463)],
 'matched': 'd240228c328003267f479d2d257d2ac624facbec17cb74816f58080a804e576d',
 'match_rows': '038b7aa9aa748036813234d5209189e2a708d391340a0eeb0258d3f72d267ce4',
 'km': ['646fc51afddf7000df3badb2e9babb2499327acda97f4951daf7dfa35af61fdc',
        '5252e50ca73aece08465cd09aac3025c61a2e4578792c162e65371cfb0e7c252',
        '3d2513034f7716480c75e2ebbcceb8aa677ad1fd7448cc606d4be8900221f14e',
        'd5574fb9a94f07b6e07909d961c9ff5a3e611c50d155737c048ab5d305782e86',
        'b1d41f25f786aa6619f4203ca7c4c2c1ff7cc7151c7304ba9459b4709283a67e',
        '5550cdd6f79b2da56c3044e16e300e87e811b1b5f3a7c5b31fea7706651b1365'],
 'balance': 'a3461b32975f76bc6016445b613bda0408103025e7837d6f2ab47e56ba52f34d',
 'infections': [0.9120815019805741, 0.5447177684794133, 1.5271994313263897],
 'seed_spread': [1.6949635645759393,
                 1.6355117672336301,
                 1.2649110640673515,
                 1.1938934864945412,
                 1.1638385543967864],
 'flow': {'registry': 234,
          'excluded_flags': 12,
          'no_origin': 0,
          'no_follow_up': 0,
          'eligible': 222,
          'exposed': 28,
          'exposed_after_end': 0,
          'sets': 28,
          'sets_short': 0,
          'sets_without_control': 0,
          'control_rows': 56,
          'distinct_controls': 46,
          'controls_later_exposed': 7}}
PINNED_2340: dict[str, Any] = {'main': [1.0986992588560447,
          0.8389050076789889,
          1.4389472590593237,
          0.49408585564838126,
          0.13764782929490568,
          0.1087314039238948],
 'analyses': [('main', 269, 538, 282, 1.0986992588560447, 0.1087314039238948),
              ('ICU at index', 134, 268, 159, 1.375339972663511, 0.1435456942704293),
              ('No ICU at index', 135, 270, 123, 0.8279620436327787, 0.1711519016094988),
              ('RP-ILD', 161, 322, 216, 1.1360722305714426, 0.12494464751349157),
              ('all records', 283, 566, 297, 1.2281469252356139, 0.10999005970788228),
              ('censor at crossover',
               269,
               538,
               270,
               1.0858325464150325,
               0.11341821772711459)],
 'matched': '1c666dd3ce85371a5c082a17a82186c91535416a0d78e3d1e2879f59e7f17f4b',
 'match_rows': 'fba8bd93c7ea161e7c824ade54ce8e0cecd4379541641b1fcd84b474d68a7cca',
 'km': ['1f928bc94112ea97aeea01b5117d520978a8f06e06f78b1e0c2a607a5d230281',
        '3231279d2c399eb4d0485b65134a47058851930e9059e03c448502a292a7345e',
        'c337ed8b0a1a6bf3726223ba6f5cc395d8ed2b8434d20d373ec1866df3ecbc78',
        '1608dd60848b951733fc7db91ea4d0d607e60a79900235a7c475ecb1f06ddfbd',
        '1cd275b681fe87759aebfdc7bf2b4aa926683fa5a757966e331cc0187b109a9f',
        '39f006c81898824fa2d6fb4547e1c0412e73325b56367ad847b48db11782c315'],
 'balance': 'f9bd1a24636992bef0198d777a86c3975f3cef46c38b6ee16246c4a1abdf31df',
 'infections': [0.9269225007276899, 0.7463934508636618, 1.1511158375801656],
 'seed_spread': [1.122654218267409, 1.1252602274293673, 1.0691973041959386],
 'flow': {'registry': 2340,
          'excluded_flags': 117,
          'no_origin': 0,
          'no_follow_up': 0,
          'eligible': 2223,
          'exposed': 269,
          'exposed_after_end': 0,
          'sets': 269,
          'sets_short': 0,
          'sets_without_control': 0,
          'control_rows': 538,
          'distinct_controls': 452,
          'controls_later_exposed': 54}}


def test_study_size_result_is_pinned() -> None:
    _check(fingerprint(234, 5), PINNED_234)


@pytest.mark.slow
def test_ten_fold_result_is_pinned() -> None:
    _check(fingerprint(2340, 3), PINNED_2340)


def test_all_records_without_exclusions_uses_the_same_draws() -> None:
    """With nothing excluded, "all records" is the headline itself (same cohort, draws)."""
    from tests.analyses.synth import frames, simulate

    res = run_study(jak_cni(seed_repeats=20), frames(simulate(200, 21, 0.6)), seed=11)
    allrec, main = res.analysis("all records"), res.main
    assert allrec.estimate.log_hr == main.estimate.log_hr
    assert res.clean_vs_all is not None and res.clean_vs_all["ratio"] == 1.0
    assert res.clean_vs_all["verdict"] == "within 20%"
