"""Faults injected mid-pull: retried within the budget, or no snapshot at all past it.

Each fault is the sandbox's, over real HTTP: 5xx bursts, a proxy's HTML 502 page, a
body cut short, a dropped connection, rows silently left out of a record export, a
slow answer (timeout: the batch shrinks), a 429 ban (never retried) and a wrong token
(never retried, names the site).
"""

from __future__ import annotations

import dataclasses

import pytest

from registry.errors import RedcapBanned, RedcapRefused, RedcapUnreachable
from registry.pulling import pull_all, pull_site
from registry.redcap.client import RedcapClient
from registry.redcap.pacing import RateLimiter
from registry.settings import Site
from registry.store import Store
from tests.redcap.pull_support import FAST, by_record, settings_for


@pytest.fixture
def paris(served, monkeypatch) -> Site:
    monkeypatch.setenv("PULLTEST_FAULT_TOKEN", served.tokens.project)
    return Site(name="paris", url=served.url, token_env="PULLTEST_FAULT_TOKEN", dag="paris")


def _truth(registry):
    return by_record(r for r in registry.records if r["redcap_data_access_group"] == "paris")


# after=2: let metadata-phase record calls (the id list) through, fire mid-batches
@pytest.mark.parametrize("fault", [
    {"kind": "status", "status": 503, "count": 3},
    {"kind": "status", "status": 500, "count": 2},
    {"kind": "html", "count": 2},
    {"kind": "truncate", "count": 2},
    {"kind": "drop", "count": 2},
], ids=["503-burst", "500-burst", "html-502", "truncated-body", "dropped-connection"])
def test_transient_faults_mid_pull_are_retried(served, small_registry, paris, tmp_path, fault):
    settings = settings_for(tmp_path, [paris])
    rule = served.faults.add(content="record", after=2, **fault)
    with Store.open(settings.store.url) as store:
        outcome = pull_site(paris, settings, store, clock=served.clock.now)
        assert rule.fired == fault["count"]
        assert outcome.stats["retried"] == fault["count"]
        assert by_record(store.snapshot_rows(outcome.snapshot_id)) == _truth(small_registry)


@pytest.mark.parametrize("fault", [
    {"kind": "status", "status": 502, "count": None},
    {"kind": "truncate", "count": None},
    {"kind": "drop_rows", "count": None, "fraction": 0.2},
], ids=["5xx-forever", "truncated-forever", "rows-dropped-forever"])
def test_past_the_budget_the_pull_fails_and_leaves_no_snapshot(served, paris, tmp_path, fault):
    settings = settings_for(tmp_path, [paris])
    with Store.open(settings.store.url) as store:
        first = pull_site(paris, settings, store, clock=served.clock.now)
        served.clock.advance(hours=1)
        served.faults.add(content="record", after=2, **fault)
        with pytest.raises(RedcapUnreachable) as caught:
            pull_site(paris, settings, store, clock=served.clock.now, full=True)
        assert "site 'paris'" in str(caught.value)
        assert store.latest_snapshot("paris").id == first.snapshot_id
        assert len(store.snapshots("paris")) == 1


def test_rows_dropped_from_a_batch_are_detected_and_asked_again(served, small_registry, paris,
                                                                tmp_path):
    settings = settings_for(tmp_path, [paris])
    rule = served.faults.add("drop_rows", content="record", after=1, count=2, fraction=0.3)
    with Store.open(settings.store.url) as store:
        outcome = pull_site(paris, settings, store, clock=served.clock.now)
        assert rule.fired == 2
        assert outcome.stats["short_batches"] == 2
        assert by_record(store.snapshot_rows(outcome.snapshot_id)) == _truth(small_registry)


def test_rows_dropped_from_the_id_list_are_not_taken_for_deletions(served, small_registry,
                                                                   paris, tmp_path):
    settings = settings_for(tmp_path, [paris])
    with Store.open(settings.store.url) as store:
        pull_site(paris, settings, store, clock=served.clock.now)
        served.clock.advance(hours=1)
        served.faults.add("drop_rows", content="record", count=1, fraction=0.3)  # the id list
        outcome = pull_site(paris, settings, store, clock=served.clock.now)
        assert outcome.kind == "incremental" and outcome.n_deleted == 0
        assert outcome.stats["id_list_short"] > 0
        assert by_record(store.snapshot_rows(outcome.snapshot_id)) == _truth(small_registry)


def test_a_timeout_shrinks_the_batch_and_the_pull_completes(served, small_registry, paris,
                                                            tmp_path):
    pull = dataclasses.replace(FAST, timeout_seconds=0.5, batch_size=40, min_batch_size=5)
    settings = settings_for(tmp_path, [paris], pull=pull)
    served.faults.add("latency", content="record", after=1, count=1, seconds=1.5)  # batch 1
    with Store.open(settings.store.url) as store:
        outcome = pull_site(paris, settings, store, clock=served.clock.now)
        assert outcome.stats["timeouts"] == 1
        assert outcome.stats["batch_size_end"] == 20
        assert by_record(store.snapshot_rows(outcome.snapshot_id)) == _truth(small_registry)


def test_a_429_ban_stops_at_once_and_says_so(served, paris, tmp_path, monkeypatch):
    monkeypatch.setenv("PULLTEST_FAULT_TOKEN_2", served.tokens["lyon"])
    lyon = Site(name="lyon", url=served.url, token_env="PULLTEST_FAULT_TOKEN_2", dag="lyon")
    settings = settings_for(tmp_path, [paris, lyon])
    served.faults.add("ban", content="record", after=3)
    client = RedcapClient(paris, FAST)
    client.metadata()
    with pytest.raises(RedcapBanned) as caught:
        for _ in range(5):
            client.records(ids=["4101-1"])
    assert client.requests == 5  # metadata + 3 let through + the one banned: no retry
    message = str(caught.value)
    assert "429" in message and "banned" in message and "administrator" in message
    with Store.open(settings.store.url) as store:
        outcomes = pull_all(settings, store, clock=served.clock.now)
    assert [o.ok for o in outcomes] == [False, False]
    assert "banned" in outcomes[0].error and "site 'paris'" in outcomes[0].error
    assert "banned" in outcomes[1].error and "lyon" in outcomes[1].error


def test_a_wrong_token_is_refused_once_naming_the_site(served, tmp_path, monkeypatch):
    wrong = "ABCDEF0123456789ABCDEF0123456789"
    monkeypatch.setenv("PULLTEST_WRONG", wrong)
    site = Site(name="lille", url=served.url, token_env="PULLTEST_WRONG", dag="lille")
    client = RedcapClient(site, FAST)
    with pytest.raises(RedcapRefused) as caught:
        client.metadata()
    assert client.requests == 1
    assert "site 'lille'" in str(caught.value) and "403" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in repr(caught.value.__cause__)


def test_an_unreachable_server_is_retried_then_named(tmp_path, monkeypatch, served):
    monkeypatch.setenv("PULLTEST_NOWHERE", served.tokens.project)
    served.stop()  # nothing listens on that port any more
    site = Site(name="paris", url=served.url, token_env="PULLTEST_NOWHERE", dag="paris")
    client = RedcapClient(site, FAST)
    with pytest.raises(RedcapUnreachable) as caught:
        client.metadata()
    assert client.requests == FAST.retries + 1
    assert "site 'paris'" in str(caught.value) and "connection" in str(caught.value)


def test_every_request_retries_included_waits_for_the_rate_limiter(served, paris, tmp_path):
    class FakeTime:
        now = 0.0

        def clock(self) -> float:
            return self.now

        def sleep(self, seconds: float) -> None:
            self.now += seconds

    fake = FakeTime()
    limiter = RateLimiter(60, clock=fake.clock, sleep=fake.sleep)  # one a second
    settings = settings_for(tmp_path, [paris])
    served.faults.add("status", status=503, content="record", after=1, count=2)
    with Store.open(settings.store.url) as store:
        outcome = pull_site(paris, settings, store, clock=served.clock.now, limiter=limiter)
    sent = outcome.stats["requests"]
    assert outcome.stats["retried"] == 2 and sent > 8
    assert fake.now == pytest.approx(sent - 1)  # evenly spaced: never two in one second


def test_going_over_the_servers_rate_limit_ends_in_a_ban_not_a_retry(served, paris, tmp_path):
    settings = settings_for(tmp_path, [paris])
    served.faults.set_rate_limit(6)  # the sandbox's clock stands still: one long minute
    with Store.open(settings.store.url) as store, pytest.raises(RedcapBanned) as caught:
        pull_site(paris, settings, store, clock=served.clock.now)
    assert "pull.requests_per_minute" in str(caught.value)
    assert served.faults.snapshot()["banned"] == ["127.0.0.1"]


def test_a_flapping_server_spends_the_pulls_retry_budget_then_fails(served, paris):
    settings = dataclasses.replace(FAST, retries=1)  # budget: 5 retries per pull
    for i in range(10):  # every other record request fails once
        served.faults.add("status", status=503, content="record", after=2 * i, count=1)
    client = RedcapClient(paris, settings)
    with pytest.raises(RedcapUnreachable) as caught:
        for _ in range(10):
            client.records(ids=["4101-1"])
    assert client.retried == client.retry_budget == 5
    assert "retries all spent" in str(caught.value)


def test_a_dead_host_is_tried_once_per_run_and_named(tmp_path, monkeypatch, served):
    """Before: five sites on one dead host retried for 15 s each and advised raising
    pull.retries. Now the first site's retries find nothing there; the others are not
    tried again, and each line says to check that REDCap is up and the URL is right."""
    monkeypatch.setenv("PULLTEST_DEAD", served.tokens.project)
    served.stop()  # nothing listens on that port any more
    sites = [Site(name=f"s{i}", url=served.url, token_env="PULLTEST_DEAD") for i in range(5)]
    settings = settings_for(tmp_path, sites)
    with Store.open(settings.store.url) as store:
        outcomes = pull_all(settings, store, clock=served.clock.now)
    assert [o.ok for o in outcomes] == [False] * 5
    first, *rest = [o.error for o in outcomes]
    assert "connection refused" in first and f"{FAST.retries + 1} attempts" in first
    assert all("earlier in this run (see site 's0')" in e for e in rest)
    for error in (first, *rest):
        assert "check that REDCap is up and that the URL is right" in error
        assert "pull.retries" not in error
