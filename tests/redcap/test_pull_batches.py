"""The pull's short-batch rule at its edges: how many tries, how batches split, what the
failure says. Over real HTTP: the sandbox's `drop_rows` fault leaves rows out of record
exports as a loaded server does.
"""

from __future__ import annotations

import dataclasses

import pytest

from registry.errors import RedcapUnreachable
from registry.pulling import pull_site
from registry.settings import Site
from registry.store import Store
from tests.redcap.pull_support import FAST, by_record, settings_for


@pytest.fixture
def paris(served, monkeypatch) -> Site:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PULLTEST_BATCH_TOKEN", served.tokens.project)
    return Site(name="paris", url=served.url, token_env="PULLTEST_BATCH_TOKEN", dag="paris")


def _pull_losing_rows(served, small_registry, paris, tmp_path, *, count: int,  # type: ignore[no-untyped-def]
                      fraction: float):
    """Pull paris while the record batches after the id list lose `fraction` of their
    rows, `count` times: (times the fault fired, short batches the pull counted, the
    snapshot's records, the site's records in the sandbox)."""
    settings = settings_for(tmp_path, [paris])
    rule = served.faults.add("drop_rows", content="record", after=1, count=count,
                             fraction=fraction)
    with Store.open(settings.store.url) as store:
        outcome = pull_site(paris, settings, store, clock=served.clock.now)
        pulled = by_record(store.snapshot_rows(outcome.snapshot_id))
    truth = by_record(r for r in small_registry.records
                      if r["redcap_data_access_group"] == "paris")
    return rule.fired, outcome.stats["short_batches"], pulled, truth


def test_short_on_every_try_the_budget_allows_and_most_rows_missing_still_completes(
        served, small_registry, paris, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert FAST.retries == 3
    # the id list passes; the first batch and the next two asks (each a re-ask of the
    # one before, in halves) lose 80 % of their rows: tries 1, 2 and 3 of 4
    fired, short, pulled, truth = _pull_losing_rows(served, small_registry, paris, tmp_path,
                                                    count=3, fraction=0.8)
    assert fired == short == 3 and pulled == truth


@pytest.mark.parametrize(("batch", "shown_more"), [(11, True), (10, False)])
def test_a_batch_short_past_the_budget_names_at_most_ten_ids(
        served, small_registry, paris, tmp_path, batch: int,  # type: ignore[no-untyped-def]
        shown_more: bool) -> None:
    settings = settings_for(tmp_path, [paris], dataclasses.replace(FAST, retries=0,
                                                                  batch_size=batch))
    served.faults.add("drop_rows", content="record", after=1, count=None, fraction=1.0)
    with Store.open(settings.store.url) as store, pytest.raises(RedcapUnreachable) as caught:
        pull_site(paris, settings, store, clock=served.clock.now)
    message = str(caught.value)
    assert f"kept leaving out {batch} requested record(s) (" in message
    assert ") after 1 tries" in message
    shown = message.split("record(s) (", 1)[1].split(") after", 1)[0]
    assert shown.endswith(" ...") == shown_more
    named = shown.removesuffix(" ...").split(", ")
    assert len(named) == 10
    assert set(named) <= {r["record_id"] for r in small_registry.records}


def test_a_whole_batch_left_out_is_asked_again_in_halves_that_cover_every_record(
        served, small_registry, paris, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the first batch (25 records) comes back empty once: asked again as 12 + 12 + 1;
    # halves that overlapped (or stopped at 2 x 12) would leave records out
    fired, short, pulled, truth = _pull_losing_rows(served, small_registry, paris, tmp_path,
                                                    count=1, fraction=1.0)
    assert fired == short == 1 and len(truth) > 25 and pulled == truth
