"""The Data Quality API module client over real HTTP to the sandbox (`registry.redcap.drw`).

The coordinator's side goes through the sandbox's admin door, as in
tests/sandbox/test_dq_module.py; the client is the production one.
"""

from __future__ import annotations

import pytest
import requests

from registry.errors import RedcapRefused, RedcapUnreachable
from registry.redcap.drw import DrwClient, resolution_row
from registry.redcap.pacing import RateLimiter
from registry.settings import PullSettings, Site

TS = "2025-01-06 10:00:00"


@pytest.fixture
def client(sandbox, monkeypatch) -> DrwClient:
    monkeypatch.setenv("DRWTEST_TOKEN", sandbox.tokens.project)
    site = Site(name="paris", url=sandbox.url, token_env="DRWTEST_TOKEN")
    return DrwClient(site, PullSettings(retries=2, backoff_seconds=0.0, timeout_seconds=5),
                     sandbox.project.project_id, sleep=lambda s: None)


def _admin(sandbox, action: str, **body) -> dict:
    reply = requests.post(f"{sandbox.admin_url}dq/{action}", json=body, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_opens_a_query_then_closes_it_and_reads_the_thread(sandbox, client):
    pid = sandbox.project.project_id
    assert client.export() == []
    [res] = client.import_rows([resolution_row(pid, "1", "ferritin", comment="Check it.",
                                               ts=TS, response_requested=True)])
    [query] = client.export()
    assert (query.record, query.field_name, query.instance, query.query_status) == (
        "1", "ferritin", 1, "OPEN")
    assert [(r.res_id, r.comment) for r in query.resolutions] == [(res, "Check it.")]
    client.import_rows([resolution_row(pid, "1", "ferritin", comment="Fixed.",
                                       ts="2025-01-07 10:00:00", status_id=query.status_id,
                                       query_status="CLOSED")])
    [query] = client.export(["1"])
    assert query.query_status == "CLOSED" and len(query.resolutions) == 2
    assert client.export(["2"]) == [] and client.export([]) == []
    assert not sandbox.dq.orphans()


def test_reads_a_coordinators_confirmed_correct(sandbox, client):
    opened = _admin(sandbox, "open", record="2", field="cpk", comment="CPK?")
    _admin(sandbox, "respond", status_id=int(opened["status_id"]),
           response="CONFIRMED_CORRECT", comment="Right as it is.", username="dr.lyon")
    _admin(sandbox, "close", status_id=int(opened["status_id"]), username="dr.lyon")
    [query] = client.export()
    assert query.query_status == "CLOSED"
    assert [r.response for r in query.resolutions] == [None, "CONFIRMED_CORRECT", None]
    assert query.resolutions[1].username == "dr.lyon"


def test_every_call_waits_for_the_hosts_limiter(sandbox, monkeypatch):
    waits: list[float] = []
    clock = iter(float(i) / 100 for i in range(100))
    limiter = RateLimiter(60, clock=lambda: next(clock), sleep=waits.append)
    monkeypatch.setenv("DRWTEST_TOKEN", sandbox.tokens.project)
    site = Site(name="paris", url=sandbox.url, token_env="DRWTEST_TOKEN")
    paced = DrwClient(site, PullSettings(), sandbox.project.project_id, limiter=limiter)
    paced.export()
    paced.export()
    assert paced.requests == 2 and len(waits) == 1 and waits[0] == pytest.approx(0.99)


def test_a_transient_export_failure_is_retried_an_import_never(sandbox, client):
    sandbox.faults.add("status", status=503, count=1, content="module")
    assert client.export() == [] and client.requests == 2
    sandbox.faults.add("status", status=503, count=1, content="module")
    row = resolution_row(sandbox.project.project_id, "1", "ferritin", comment="x", ts=TS)
    with pytest.raises(RedcapUnreachable) as caught:
        client.import_rows([row])
    assert "not retried" in str(caught.value) and "\n" not in str(caught.value)
    assert client.requests == 3 and client.export() == []


def test_a_disabled_module_bad_token_or_dead_endpoint_is_one_line(sandbox, client,
                                                                    monkeypatch):
    _admin(sandbox, "settings", enabled=False)
    with pytest.raises(RedcapRefused, match="Data Quality API module .* enabled"):
        client.export()
    _admin(sandbox, "settings", enabled=True)
    monkeypatch.setenv("DRWTEST_TOKEN", "0" * 32)
    bad = DrwClient(client.site, client.settings, client.project_id, sleep=lambda s: None)
    with pytest.raises(RedcapRefused) as refused:
        bad.export()
    assert "403" in str(refused.value) and "0" * 32 not in str(refused.value)
    sandbox.faults.add("status", status=500, count=None, content="module")
    with pytest.raises(RedcapUnreachable) as dead:
        client.export()
    assert "after 3 attempts" in str(dead.value) and "\n" not in str(dead.value)
    assert sandbox.tokens.project not in str(dead.value)
