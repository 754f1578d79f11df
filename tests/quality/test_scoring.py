"""The quality stage measured against the sandbox's ground truth, and flags over nights.

Seed 424242 was never used to write or tune the rules (seed 7 was). Every injected
error must be flagged (recall 100 %) and at least 95 % of flags must point at an
injected cell, matched on (record_id, form, instance, field); a duplicated repeat
instance is flagged with field "".
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from registry.quality import SiteLink, age_flags, validate
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy
from tests import anti_mda5
from tests.quality.test_validate import SUITES

SEED = 424242
PARAMS = GeneratorParams(seed=SEED, patients=234, error_rate=0.3)
CELL = ["record_id", "form", "instance", "field"]
ROW = ("record_id", "redcap_repeat_instrument", "redcap_repeat_instance")


def _validate(rows_by_site, metadata):
    schema = anti_mda5.schema(metadata)
    return validate(tidy(rows_by_site, schema), schema, SUITES,
                    site_links=SiteLink("http://127.0.0.1:1/", "14.0.0", 13),
                    today=PARAMS.as_of)


def _cells(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    return list(frame[CELL].astype(str).itertuples(index=False, name=None))


@pytest.fixture(scope="module")
def night1():
    reg = generate(PARAMS)
    return reg, _validate(reg.rows_by_site(), reg.metadata)


def test_recall_and_precision_on_an_untuned_seed(night1) -> None:
    reg, result = night1
    truth = pd.DataFrame(reg.truth)
    assert len(truth) > 50, "the scored registry should hold a fair number of errors"
    truth_cells = set(_cells(truth))
    flagged = _cells(result.failures)
    missed = truth_cells - set(flagged)
    hits = sum(c in truth_cells for c in flagged)
    precision, recall = hits / len(flagged), 1 - len(missed) / len(truth_cells)
    print(f"seed {SEED}: {len(truth_cells)} injected, {len(flagged)} flags, "
          f"recall {recall:.1%}, precision {precision:.1%}")
    assert not missed, f"missed injected errors: {sorted(missed)[:10]}"
    assert precision >= 0.95
    assert not (result.rule_results["status"] == "error").any()


def test_fixed_records_resolve_and_a_new_error_is_new(night1) -> None:
    reg, result = night1
    clean = generate(GeneratorParams(seed=SEED, patients=234, error_rate=0.0))
    n1 = datetime(2025, 6, 30, 2, tzinfo=UTC)
    first = age_flags([], result.failures, n1)
    assert set(first["status"]) == {"new"}

    # fix every record of the first 10 flagged ones (the clean registry is the same
    # cohort before injection), and break one clean record
    fixed = sorted(set(result.failures["record_id"]))[:10]
    clean_rows = [r for r in clean.records if r["record_id"] in fixed]
    rows = [r for r in reg.records if r["record_id"] not in fixed] + clean_rows
    flagged_ids = set(result.failures["record_id"])
    victim = next(r for r in rows if r["record_id"] not in flagged_ids
                  and r["redcap_repeat_instrument"] == "" and r["mda5_titre"])
    rows = [dict(r, mda5_titre="999") if r is victim else r for r in rows]
    by_site: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_site.setdefault(r["redcap_data_access_group"], []).append(r)

    second = age_flags(first.to_dict("records"), _validate(by_site, reg.metadata).failures,
                       datetime(2025, 7, 1, 2, tzinfo=UTC))
    status = second.groupby("status")["record_id"].apply(set)
    assert status["resolved"] == set(fixed)
    assert status["new"] == {victim["record_id"]}
    assert status["open"] == flagged_ids - set(fixed)
    assert "reopened" not in status
    old = second[second["status"] == "open"]
    assert (old["first_seen"] == n1).all()
