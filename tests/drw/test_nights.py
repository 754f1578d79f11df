"""Flags and REDCap's Data Resolution Workflow kept in step, night after night, over HTTP.

The sandbox serves the 4-record mini registry; the settings name one site, the
`paris` DAG, with `drw_sync = true` (one site: its report renders in-process, which
keeps a night near a second of CPU), on real time so the nightly's incremental pulls
see the coordinator's edits. Each night is the production `run_nightly` (no study, so a night
is pull, validate, DRW sync and the site reports); the coordinator acts between nights
through the sandbox's admin door (`/_sandbox/dq/...`, `/_sandbox/record`), as a person
in REDCap's DRW pop-up and data entry form would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from registry.commands.status import show_status
from registry.drw.stage import sync_sites
from registry.quality.flags import blocking_patients
from registry.run import NightlyResult, run_nightly
from registry.sandbox.clock import SystemClock
from registry.sandbox.server import SandboxServer
from registry.sandbox.starter import write_sandbox_settings
from registry.settings import Settings, load_settings
from registry.store import Store
from tests.reports.pdf_text import text as pdf_text
from tests.sandbox.mini import mini_registry

CLOSING = re.compile(r"^Fixed in REDCap, confirmed by the nightly check on "
                     r"\d{4}-\d{2}-\d{2}\.$")


@pytest.fixture
def world(tmp_path) -> Iterator[tuple[SandboxServer, Settings]]:
    with SandboxServer(mini_registry(), clock=SystemClock()) as server:
        path = tmp_path / "settings.toml"
        write_sandbox_settings(server, path)
        text = re.sub(r"\[\[studies\]\]\nspec = .*\n", "", path.read_text(encoding="utf-8"))
        text = re.sub(r'\[\[sites\]\]\nname = "lyon"\n(.+\n)+', "", text)
        text = text.replace('name = "paris"\n', 'name = "paris"\ndrw_sync = true\n')
        path.write_text(text + "\n[pull]\nrequests_per_minute = 600000\nretries = 1\n"
                        "backoff_seconds = 0.01\ntimeout_seconds = 5\n", encoding="utf-8")
        yield server, load_settings(path)


def _admin(server: SandboxServer, path: str, **body) -> dict:
    reply = requests.post(f"{server.admin_url}{path}", json=body, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _queries(server: SandboxServer) -> dict[str, dict]:
    """Every query by field (all on paris's record 10 here), from the admin door."""
    state = requests.get(f"{server.admin_url}dq", timeout=5).json()
    assert state["orphans"] == []  # no resolution ever stored against no query
    return {q["field_name"]: q for q in state["queries"].values()}


def _thread(query: dict) -> list[dict]:
    return sorted(query.get("resolutions", {}).values(), key=lambda r: int(r["res_id"]))


def _flags(settings: Settings, night: NightlyResult, site: str = "paris") -> dict[str, dict]:
    with Store.open(settings.store.url) as store:
        return {f["field"]: f for f in store.flags(night.run_id, site)}


def _night(settings: Settings) -> NightlyResult:
    night = run_nightly(settings, show_progress=False)
    assert (night.status, night.exit_code) == ("succeeded", 0), night.failures
    return night


def test_two_nights_a_rerun_a_new_value_and_a_dead_module(world, capsys):
    server, settings = world
    # the coordinator typed a titre above the dictionary's soft range before night 1
    _admin(server, "record", record="10", field="mda5_titre", value="900")

    # night 1: each open flag opens one query on its cell
    night1 = _night(settings)
    flags1 = _flags(settings, night1)
    queries = _queries(server)
    assert set(queries) == set(flags1) == {"mda5_titre", "muscle_weakness", "last_fu_date",
                                          "lung_tx", "vital_status"}
    assert {q["record"] for q in queries.values()} == {"10"}  # paris's flagged record
    for field, query in queries.items():
        [opening] = _thread(query)
        assert query["query_status"] == "OPEN" and opening["response_requested"] == "1"
        assert flags1[field]["message"] in opening["comment"]
    assert "drw paris: 5 opened" in "\n".join(night1.lines)
    assert "paris:10" in blocking_patients(flags1.values())

    # the coordinator fixes three values and accepts the titre as right
    for field, value in (("muscle_weakness", "0"), ("last_fu_date", "2023-01-01"),
                         ("vital_status", "1")):
        _admin(server, "record", record="10", field=field, value=value)
    titre = int(queries["mda5_titre"]["status_id"])
    _admin(server, "dq/respond", status_id=titre, response="CONFIRMED_CORRECT",
           comment="900 is right: checked with the lab.", username="dr.paris")
    _admin(server, "dq/close", status_id=titre, username="dr.paris")

    # night 2: the fixed ones are closed, the titre is accepted and no longer blocks
    night2 = _night(settings)
    flags2 = _flags(settings, night2)
    queries = _queries(server)
    assert len(queries) == 5
    for field in ("muscle_weakness", "last_fu_date", "vital_status"):
        assert flags2[field]["status"] == "resolved"
        assert queries[field]["query_status"] == "CLOSED"
        assert CLOSING.match(_thread(queries[field])[-1]["comment"])
    assert flags2["mda5_titre"]["status"] == "accepted"
    assert queries["mda5_titre"]["query_status"] == "CLOSED"
    assert len(_thread(queries["mda5_titre"])) == 3  # nothing added by the sync
    assert (flags2["lung_tx"]["status"], queries["lung_tx"]["query_status"]) == ("open",
                                                                                 "OPEN")
    assert "paris:10" not in blocking_patients(flags2.values())
    page = pdf_text(night2.out_dir / "site-paris.pdf")  # the one open query is marked
    assert page.count("QUERY IN REDCAP") == 1 and "Lung transplant is empty" in page
    assert {f: r["details"].get("drw_query") for f, r in flags2.items()} == {
        "mda5_titre": "accepted", "lung_tx": "open", "muscle_weakness": "closed",
        "last_fu_date": "closed", "vital_status": "closed"}
    assert "drw paris: 0 opened, 0 commented, 3 closed, 0 reopened, 0 raised, 1 accepted" \
        in night2.lines

    # a rerun of the night changes nothing, in REDCap or in the flags
    before = requests.get(f"{server.admin_url}dq", timeout=5).json()
    night3 = _night(settings)
    assert requests.get(f"{server.admin_url}dq", timeout=5).json() == before
    assert {f: r["status"] for f, r in _flags(settings, night3).items()} == {
        "mda5_titre": "accepted", "lung_tx": "open", "muscle_weakness": "resolved",
        "last_fu_date": "resolved", "vital_status": "resolved"}

    # a new titre raises the accepted flag again; an erased value reopens its query
    _admin(server, "record", record="10", field="mda5_titre", value="950")
    _admin(server, "record", record="10", field="muscle_weakness", value="")
    night4 = _night(settings)
    flags4, queries = _flags(settings, night4), _queries(server)
    assert (flags4["mda5_titre"]["status"], queries["mda5_titre"]["query_status"]) == (
        "open", "OPEN")
    assert _thread(queries["mda5_titre"])[-1]["comment"].startswith("The value changed")
    assert (flags4["muscle_weakness"]["status"],
            queries["muscle_weakness"]["query_status"]) == ("reopened", "OPEN")
    assert len(queries) == 5 and "paris:10" in blocking_patients(flags4.values())

    # the module's endpoint fails: the night succeeds, the failure is on record
    server.faults.add("status", status=500, count=None, content="module")
    night5 = _night(settings)
    server.faults.clear()
    [line] = [ln for ln in night5.lines if ln.startswith("drw paris")]
    assert "FAILED" in line and "DRW export" in line
    with Store.open(settings.store.url) as store:
        stages = {(s.stage, s.site): s for s in store.run(night5.run_id).stages}
    assert stages[("drw", "paris")].status == "failed"
    assert stages[("drw", None)].status == "partial"
    assert _queries(server) == queries
    capsys.readouterr()
    show_status(settings)
    shown = capsys.readouterr().out
    assert "drw" in shown and "FAILED" in shown

    # a site that has not opted in is never synced
    quiet = replace(settings, sites=(replace(settings.sites[0], drw_sync=False),))
    with Store.open(settings.store.url) as store:
        assert sync_sites(quiet, store, night5.run_id, {"paris": 1}) == []
