"""Injected faults and REDCap's rate-limit ban, as a client sees them over HTTP.

REDCAP_API.md §3: PyCap never checks the HTTP status, so an HTML page or REDCap's
plain-text 429 reaches it as a body that is not JSON (JSONDecodeError, itself a
RedcapError); a connection closed without a reply is a requests ConnectionError.
"""

from __future__ import annotations

import time

import pytest
import redcap
import requests

from registry.sandbox.faults import Fault, Faults
from registry.sandbox.server import SandboxServer

BANNED = "Your IP address (127.0.0.1) has been banned due to suspected abuse."


def _post(server: SandboxServer, **params: str) -> requests.Response:
    data = {"token": server.tokens.project, "format": "json", **params}
    return requests.post(server.url, data=data, timeout=5)


def _version(server: SandboxServer) -> requests.Response:
    return _post(server, content="version")


def test_status_fault_fires_after_and_count_times(sandbox):
    sandbox.faults.add("status", status=503, after=1, count=2)
    codes = [_version(sandbox).status_code for _ in range(5)]
    assert codes == [200, 503, 503, 200, 200]


def test_fault_matches_on_content(sandbox):
    fault = sandbox.faults.add("status", status=500, content="record", count=None)
    assert _version(sandbox).status_code == 200
    assert _post(sandbox, content="record").status_code == 500
    assert (fault.seen, fault.fired) == (1, 1)


def test_html_proxy_page_breaks_pycap_json(sandbox):
    sandbox.faults.add("html")
    reply = _version(sandbox)
    assert (reply.status_code, reply.headers["Content-Type"]) == (502,
                                                                  "text/html; charset=utf-8")
    assert "<h1>502 Bad Gateway</h1>" in reply.text
    sandbox.faults.add("html")
    project = redcap.Project(sandbox.url, sandbox.tokens.project)
    with pytest.raises(requests.JSONDecodeError):
        project.export_records()


def test_ban_fault_is_permanent_429_plain_text(sandbox):
    """§3: a ban answers 429 `Your IP address (...) has been banned...` to every later
    request; PyCap sees a JSONDecodeError."""
    sandbox.faults.add("ban", content="record")
    assert _version(sandbox).status_code == 200
    reply = _post(sandbox, content="record")
    assert (reply.status_code, reply.text) == (429, BANNED)
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert _version(sandbox).status_code == 429
    with pytest.raises(requests.JSONDecodeError):
        redcap.Project(sandbox.url, sandbox.tokens.project).export_records()
    sandbox.faults.clear()
    assert _version(sandbox).status_code == 200


def test_rate_limit_bans_for_good_like_redcap(sandbox_factory):
    """§3: over the per-minute limit the address is banned permanently (429 on every
    later request)."""
    server = sandbox_factory(rate_limit=3)
    assert [_version(server).status_code for _ in range(5)] == [200, 200, 200, 429, 429]
    assert server.faults.snapshot()["banned"] == ["127.0.0.1"]


def test_rate_limit_window_is_one_minute_and_the_ban_outlives_it():
    now = [1000.0]
    faults = Faults(rate_limit=2, now=lambda: now[0])
    assert [faults.is_banned("a") for _ in range(2)] == [False, False]
    now[0] += 61
    assert [faults.is_banned("a") for _ in range(2)] == [False, False]
    assert faults.is_banned("a") is True
    assert faults.is_banned("b") is False  # per address, not per token
    now[0] += 3600
    assert faults.is_banned("a") is True


def test_truncated_json_body_raises(sandbox):
    sandbox.faults.add("truncate", content="record")
    project = redcap.Project(sandbox.url, sandbox.tokens.project)
    with pytest.raises(requests.JSONDecodeError):
        project.export_records()
    assert len(project.export_records()) == 8  # the connection pool recovers


def test_dropped_connection_raises_connection_error(sandbox):
    sandbox.faults.add("drop", content="record")
    project = redcap.Project(sandbox.url, sandbox.tokens.project)
    project.metadata  # noqa: B018 - fetched first, so only the export meets the fault
    with pytest.raises(requests.ConnectionError):
        project.export_records()
    assert len(project.export_records()) == 8


def test_drop_rows_silently_loses_records_from_an_export(sandbox):
    """Big exports under load can come back short with no error: the pull must notice."""
    fault = sandbox.faults.add("drop_rows", fraction=0.5, seed=3)
    project = redcap.Project(sandbox.url, sandbox.tokens.project)
    assert project.import_records([{"record_id": "30"}]) == {"count": 1}  # imports unaffected
    short = {r["record_id"] for r in project.export_records(fields=["record_id"])}
    full = {r["record_id"] for r in project.export_records(fields=["record_id"])}
    assert full == {"1", "2", "3", "10", "30"}
    assert short < full and len(full - short) == 3
    assert fault.fired == 1


def test_latency_delays_the_reply(sandbox):
    sandbox.faults.add("latency", seconds=0.3)
    started = time.perf_counter()
    assert _version(sandbox).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_timeout_with_latency(sandbox):
    sandbox.faults.add("latency", seconds=1.0)
    project = redcap.Project(sandbox.url, sandbox.tokens.project, timeout=0.2)
    with pytest.raises(requests.Timeout):
        project.export_version()


def test_unknown_fault_kind_is_refused(sandbox):
    with pytest.raises(ValueError, match="unknown fault kind 'boom'"):
        sandbox.faults.add("boom")


def test_admin_endpoint_drives_faults_over_http(sandbox):
    """The `/_sandbox/` admin door lets a test drive a server in another process."""
    health = requests.get(sandbox.admin_url + "health", timeout=5).json()
    assert (health["status"], health["records"], health["url"]) == ("ok", 4, sandbox.url)
    reply = requests.post(sandbox.admin_url + "faults", timeout=5, json=[
        {"kind": "status", "status": 502, "count": 1},
        {"kind": "drop_rows", "fraction": 1.0}])
    assert reply.status_code == 200 and len(reply.json()["faults"]) == 2
    assert sandbox.faults.rules[0] == Fault("status", status=502)
    assert _version(sandbox).status_code == 502
    assert requests.post(sandbox.admin_url + "faults", json={"kind": "nope"}, timeout=5
                         ).status_code == 400
    assert requests.delete(sandbox.admin_url + "faults", timeout=5).json()["faults"] == []
    requests.post(sandbox.admin_url + "rate_limit", json={"per_minute": 1}, timeout=5)
    assert [_version(sandbox).status_code for _ in range(2)] == [200, 429]
    requests.post(sandbox.admin_url + "faults/clear", timeout=5)
    requests.post(sandbox.admin_url + "rate_limit", json={"per_minute": 0}, timeout=5)
    assert _version(sandbox).status_code == 200
    before = sandbox.clock.now()
    requests.post(sandbox.admin_url + "clock", json={"advance_seconds": 90}, timeout=5)
    assert (sandbox.clock.now() - before).total_seconds() == 90
