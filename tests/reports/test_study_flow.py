"""The cohort-flow counts of the study report: every exposed patient in no matched set
is counted once, under its reason, and a set without a control is not a set.

Five patients: E1 exposed on day 20 with two controls (of C2, E4 not yet exposed, C5);
E3 exposed on day 10 alone in its RP-ILD key (no eligible control); E4 exposed on its
last day of follow-up (left out). Before, the payload took the sets without a control
off a count that already had them off, and called every exposed patient outside a
set "with no eligible control".
"""

from __future__ import annotations

from analyses import run_study
from registry.reports.payloads import study_payloads
from tests.analyses.synth import P, frames, jak_cni


def test_exposed_patients_outside_a_set_are_counted_by_reason() -> None:
    spec = jak_cni()
    ps = [P(1, end=300, event=True, jak=(20, None), cni=(20, None)),
          P(2, end=400),
          P(3, end=300, jak=(10, None), cni=(10, None), rp_ild=True),   # alone in its key
          P(4, end=50, jak=(50, None), cni=(50, None)),                # on its last day
          P(5, end=30, event=True)]
    res = run_study(spec, frames(ps), seed_repeats=0)
    assert res.flow["exposed"] == 3 and res.flow["sets"] == 1
    assert res.flow["sets_without_control"] == 1 and res.flow["exposed_after_end"] == 1
    flow = study_payloads(res, spec, snapshot="S", run_id="r",
                          versions={"python": "3"})["report"]["flow"]
    assert (flow["exposed"], flow["exposed_matched"], flow["exposed_unmatched"],
            flow["exposed_after_end"], flow["exposed_before_entry"]) == (3, 1, 1, 1, 0)
    assert flow["exposed"] == (flow["exposed_matched"] + flow["exposed_unmatched"]
                               + flow["exposed_after_end"] + flow["exposed_before_entry"])
    assert flow["sets_short"] == 0 and flow["controls"] == 2      # C2 and P4 or C5
