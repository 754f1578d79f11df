"""A field the rules need is missing on a night: `error` results, and flags stay open.

Reproduces issue #11's false resolution: `diagnosis_date` renamed in REDCap between
two nights made the rules that compare against it `not_applicable` (an all-missing
column was put in its place) and their open blocking flags were marked resolved. Now
the profile column made from it cannot be computed, every rule that needs it is an
`error` naming why, and the lifecycle carries its flags forward, open.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from registry.quality import validate
from registry.quality.lifecycle import age_flags
from registry.quality.stage import validate_snapshots
from registry.run import run_frames
from registry.sandbox.dictionary import metadata
from registry.settings import load_settings
from registry.store import Store
from registry.tidy import tidy
from tests import anti_mda5
from tests.quality.conftest import TODAY, make_flat, patient
from tests.quality.test_validate import SUITES

RULE = "dates.trt_start_after_diagnosis"


def _rows() -> list[dict[str, object]]:
    return [*patient("paris", "1", treatments__trt_start="2019-12-01"),
            *patient("paris", "2", treatments__trt_start="2019-11-01"),
            *patient("paris", "3")]


def _renamed(rename: bool) -> tuple[list[dict[str, str]], dict[str, list[dict[str, str]]]]:
    """The dictionary and flat rows, with `diagnosis_date` renamed `dx_date` if asked."""
    meta, flat = metadata(), make_flat(_rows())
    if not rename:
        return meta, flat
    meta = [dict(m, field_name="dx_date") if m["field_name"] == "diagnosis_date" else m
            for m in meta]
    flat = {site: [{("dx_date" if k == "diagnosis_date" else k): v for k, v in r.items()}
                   for r in rows] for site, rows in flat.items()}
    return meta, flat


def _validate(rename: bool):  # noqa: ANN202
    meta, flat = _renamed(rename)
    schema = anti_mda5.schema(meta)
    return validate(tidy(flat, schema), schema, SUITES, site_links=None, today=TODAY)


def test_rules_needing_a_missing_field_are_errors_naming_the_profile_key() -> None:
    before, after = _validate(False), _validate(True)
    flagged = before.failures[before.failures["rule_id"] == RULE]
    assert sorted(flagged["record_id"]) == ["1", "2"]
    assert set(flagged["severity"]) == {"blocking"}

    rr = after.rule_results.set_index("rule_id")
    row = rr.loc[RULE]
    assert row["status"] == "error"
    assert "roles.diagnosis" not in row["error"]  # the column names its own key
    assert "columns.diagnosis_date" in row["error"] and "'diagnosis_date'" in row["error"]
    assert "profile.toml" in row["error"]
    needing = [r for r in before.rules if "diagnosis_date" in json.dumps(r.kwargs)
               or "diagnosis_date" in r.message
               or "age_at_diagnosis_years" in json.dumps(r.kwargs)]
    needing = [r for r in needing if r.suite != "dictionary"]
    assert len(needing) == 7
    for rule in needing:
        assert rr.loc[rule.id, "status"] == "error", rule.id
    # no rule that needs it pretends there was nothing to check
    assert not (after.rule_results["error"].str.contains("diagnosis_date")
                & (after.rule_results["status"] == "not_applicable")).any()
    assert after.failures[after.failures["rule_id"] == RULE].empty
    # the rules that do not need it still ran
    assert rr.loc["dates.trt_stop_after_start", "status"] == "passed"


def test_the_lifecycle_keeps_flags_of_rules_that_errored_open() -> None:
    n1, n2 = datetime(2025, 6, 1, 2, tzinfo=UTC), datetime(2025, 6, 2, 2, tzinfo=UTC)
    first = age_flags([], _validate(False).failures, n1)
    after = _validate(True)
    errored = after.rule_results[after.rule_results["status"] == "error"]
    second = age_flags(first.to_dict("records"), after.failures, n2,
                       unchecked=set(zip(errored["site"], errored["rule_id"], strict=True)))
    mine = second[second["rule_id"] == RULE]
    assert sorted(mine["record_id"]) == ["1", "2"]
    assert set(mine["status"]) == {"open"} and mine["unchecked"].all()
    assert (mine["last_seen"] == n1).all() and (mine["first_seen"] == n1).all()
    # without the errored rules named, the flags would have been resolved: the fix matters
    naive = age_flags(first.to_dict("records"), after.failures, n2)
    assert set(naive[naive["rule_id"] == RULE]["status"]) == {"resolved"}


@pytest.fixture()
def settings(tmp_path: Path):  # noqa: ANN201
    path = tmp_path / "settings.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///registry.sqlite"\n[reports]\ndir = "reports"\n'
        f'[registry]\nprofile = "{anti_mda5.PROFILE}"\n[quality]\nsuites = "{SUITES}"\n'
        '[[sites]]\nname = "paris"\nurl = "http://127.0.0.1:9/api/"\n'
        'token_env = "REGISTRY_TOKEN_PARIS"\n', encoding="utf-8")
    return load_settings(path)


def test_two_nights_through_the_store_keep_both_blocking_flags_open(settings) -> None:
    with Store.open(settings.store.url) as store:
        statuses = []
        for rename in (False, True):
            meta, flat = _renamed(rename)
            records: dict[str, list[dict[str, str]]] = {}
            for row in flat["paris"]:
                records.setdefault(row["record_id"], []).append(row)
            snap = store.write_snapshot(
                "paris", records, metadata=meta,
                details={"repeating_forms": [{"form_name": f} for f in anti_mda5.REPEATING]})
            run_id = store.start_run("validate")
            used = {"paris": snap.id}
            frames, meta = run_frames(store, used, settings.profile)
            counts = validate_snapshots(settings, store, run_id, used, frames, meta)
            store.finish_run(run_id, "succeeded", 0)
            flags = [f for f in store.flags(run_id) if f["rule_id"] == RULE]
            statuses.append((counts, sorted((f["record_id"], f["status"]) for f in flags)))
        (first, flags1), (second, flags2) = statuses
        assert flags1 == [("1", "new"), ("2", "new")]
        assert flags2 == [("1", "open"), ("2", "open")]
        assert second["rule_errors"] > 0
        results = {r["rule_id"]: r for r in store.rule_results(run_id=run_id)}
        assert results[RULE]["status"] == "error"
        assert "diagnosis_date" in results[RULE]["detail"]
