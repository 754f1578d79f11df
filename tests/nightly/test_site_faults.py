"""Faults a night meets at the sites, each over real HTTP from the session's sandbox.

Every test starts from a copy of the session's good night (`night_dir`) and runs one
more night in-process through `nightly_command` (what the CLI calls), then checks what
the issue asks: transient faults are retried and the night is clean (exit 0); a ban or
a wrong token fails only the sites it hits (exit 1, one stderr line naming each), the
analyses use those sites' last good snapshots and the study report says so with the
date; a dictionary change is reported and the night completes. In every case no
snapshot of the good night is lost and the new output folder is complete. The nights
whose claim is about the pulls alone (transient faults, a wrong token) run without the
study (`without_study`), which is half a night's CPU.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from registry.commands.nightly import nightly_command
from registry.reports.format import fmt_datetime
from registry.sandbox.cli import token_file_text, write_private
from registry.sandbox.schema import Schema
from registry.settings import load_settings
from registry.store import Store
from tests.nightly.conftest import pdf_text, token_leaks, tree_bytes, without_study

SITES = ("lille", "lyon", "paris")
FILES = sorted([f"site-{s}.pdf" for s in SITES] + [f"flags-{s}.csv" for s in SITES]
               + [f"flags-{s}.xlsx" for s in SITES]
               + ["jak_cni.pdf", "jak_cni.json", "jak_cni-matched.csv"])
#: a night without the study (`without_study`: the claim is about the pulls)
SITE_FILES = [f for f in FILES if not f.startswith("jak_cni")]


def _night(folder: Path, capsys) -> tuple[int, str, str]:
    code = nightly_command(folder / "settings.toml")
    out, err = capsys.readouterr()
    return code, out, err


def _last_run(folder: Path):
    with Store.open(load_settings(folder / "settings.toml").store.url) as store:
        run = store.runs(limit=1)[0]
        snaps = {s: store.snapshots(s) for s in SITES}
        rows = {s: store.snapshot_rows(snaps[s][0].id) for s in SITES}
    return run, snaps, rows


def _good_state(folder: Path, baseline) -> dict:
    """What the good night left: its output folder's bytes, its flags, its snapshots."""
    with Store.open(load_settings(folder / "settings.toml").store.url) as store:
        run = store.run(baseline.run_id)
        return {"outputs": tree_bytes(folder / "var" / "reports" / baseline.run_id),
                "flags": store.flags(baseline.run_id),
                "snapshots": {s: store.snapshot_records(u.snapshot_id)
                              for s, u in run.snapshots.items()}}


def _check_good_night_kept(folder: Path, baseline, before: dict, files=FILES) -> None:
    """Nothing of the good night was lost or rewritten; the new folder is complete."""
    assert _good_state(folder, baseline) == before
    reports = folder / "var" / "reports"
    run_dirs = sorted(p for p in reports.iterdir())
    assert [p.name for p in run_dirs if p.name.startswith(".")] == []
    assert len(run_dirs) == 2 and sorted(p.name for p in run_dirs[-1].iterdir()) == files


def test_transient_faults_are_retried_and_the_night_is_clean(night_dir, night_sandbox, baseline,
                                                             capsys):
    """5xx burst, truncated JSON, dropped connection, a reply slower than the timeout."""
    without_study(night_dir)
    before = _good_state(night_dir, baseline)
    _, _, good_rows = _last_run(night_dir)
    faults = night_sandbox.faults
    rules = [faults.add("status", status=503, count=2, content="record"),
             faults.add("truncate", count=1, after=3, content="record"),
             faults.add("drop", count=1, after=5, content="record"),
             faults.add("latency", seconds=2.5, count=1, after=7, content="record")]

    code, out, err = _night(night_dir, capsys)

    assert code == 0, err
    assert [r.fired for r in rules] == [2, 1, 1, 1]
    run, snaps, rows = _last_run(night_dir)
    assert run.status == "succeeded" and not re.search(r"(?m)^registry nightly:", err)
    assert rows == good_rows  # the same data, complete, despite the faults
    assert all(len(snaps[s]) == 2 and run.snapshots[s].fresh for s in SITES)
    log = (night_dir / "registry.log").read_text().split(f"event=run.start run={run.id}")[1]
    done = [dict(re.findall(r"(\w+)=(\S+)", ln)) for ln in log.splitlines()
            if "event=pull.done site=" in ln]
    assert len(done) == 3
    # each fault cost one retry (the slow reply too: it hit a call the client retries;
    # a slow *batch* shrinks the batch instead, tests/redcap/test_pull_faults.py)
    # (>=: a reply slowed past 2 s by a loaded test machine would be one more retry)
    assert sum(int(d["retried"]) + int(d["timeouts"]) for d in done) >= 5
    _check_good_night_kept(night_dir, baseline, before, SITE_FILES)


def test_a_ban_stops_that_hosts_sites_and_the_study_uses_their_last_snapshots(
        night_dir, night_sandbox, baseline, capsys, monkeypatch):
    """REDCap bans the address while lyon is pulled: paris is fresh; lyon and lille (same
    host) fail, are not hammered, and keep their last good snapshot, which the report names."""
    before = _good_state(night_dir, baseline)
    project = night_sandbox.project
    real_scope = project.scope_for
    lyon_token = night_sandbox.tokens["lyon"]

    def scope_for(token):  # the ban falls at lyon's first request
        if token == lyon_token:
            night_sandbox.faults.ban("127.0.0.1")
        return real_scope(token)
    monkeypatch.setattr(project, "scope_for", scope_for)

    code, out, err = _night(night_dir, capsys)

    assert code == 1
    failures = re.findall(r"(?m)^registry nightly: (.*)$", err)
    assert len(failures) == 2
    assert "site 'lyon'" in failures[0] and "banned" in failures[0]
    assert "site 'lille'" in failures[1] and "see site 'lyon'" in failures[1]
    run, snaps, _ = _last_run(night_dir)
    assert run.status == "partial" and run.exit_code == 1
    assert run.snapshots["paris"].fresh and len(snaps["paris"]) == 2
    for site in ("lyon", "lille"):
        assert not run.snapshots[site].fresh and len(snaps[site]) == 1
        assert run.snapshots[site].snapshot_id == snaps[site][0].id
    pulls = {st.site: st.status for st in run.stages if st.stage == "pull" and st.site}
    assert pulls == {"paris": "succeeded", "lyon": "failed", "lille": "failed"}
    assert [st.status for st in run.stages if st.site is None] == \
        ["partial", "succeeded", "succeeded", "succeeded"]
    assert "lyon: pull FAILED; using its last good snapshot" in out
    # the study used the old snapshots and says so, with their date
    folder = night_dir / "var" / "reports" / run.id
    study = pdf_text(folder / "jak_cni.pdf")
    labels = {s.name: s.display_name for s in load_settings(night_dir / "settings.toml").sites}
    assert "Not all sites are up to date." in study
    for site in ("lyon", "lille"):
        taken = fmt_datetime(snaps[site][0].created_at.replace(tzinfo=None))
        assert f"{labels[site]}: not reached tonight, last good data of {taken}" in study
    assert f"{labels['paris']}: not reached tonight" not in study
    assert "Not tonight's data" in pdf_text(folder / "site-lyon.pdf")
    _check_good_night_kept(night_dir, baseline, before)


def test_a_wrong_token_or_faults_past_the_retry_budget_fail_only_those_sites(
        night_dir, night_sandbox, baseline, capsys):
    """paris keeps answering 502 past its retry budget (1 + 3 retries), lille's token is
    wrong: both fail with one stderr line each and keep their last good snapshot; lyon is
    pulled as usual (exit 1). No token, right or wrong, shows anywhere."""
    without_study(night_dir)
    before = _good_state(night_dir, baseline)
    tokens = night_sandbox.tokens
    wrong = "0123456789ABCDEF0123456789ABCDEF"
    write_private(night_dir / "sandbox.tokens",
                  token_file_text(tokens).replace(tokens["lille"], wrong))
    burst = night_sandbox.faults.add("status", status=502, count=4, content="record")

    code, out, err = _night(night_dir, capsys)

    assert code == 1
    assert burst.fired == 4
    failures = re.findall(r"(?m)^registry nightly: (.*)$", err)
    assert len(failures) == 2
    assert "site 'paris'" in failures[0] and "502" in failures[0]
    assert "site 'lille'" in failures[1]
    run, snaps, _ = _last_run(night_dir)
    assert run.status == "partial"
    for site in ("paris", "lille"):  # the store is untouched for them
        assert len(snaps[site]) == 1 and not run.snapshots[site].fresh
    assert len(snaps["lyon"]) == 2 and run.snapshots["lyon"].fresh
    _check_good_night_kept(night_dir, baseline, before, SITE_FILES)
    assert token_leaks(night_dir, [wrong, *tokens.env().values()],
                       {"stdout": out, "stderr": err}) == []


def test_a_dictionary_change_between_nights_is_reported_and_the_night_completes(
        night_dir, night_sandbox, baseline, capsys):
    before = _good_state(night_dir, baseline)
    project = night_sandbox.project
    old = project.schema
    metadata = copy.deepcopy(old.metadata)
    sex = next(m for m in metadata if m["field_name"] == "sex")
    sex["select_choices_or_calculations"] += " | 3, Other"
    ferritin = next(i for i, m in enumerate(metadata) if m["field_name"] == "ferritin")
    metadata.insert(ferritin + 1, {**metadata[ferritin], "field_name": "crp",
                                   "field_label": "CRP (mg/L)"})  # a new, still empty field
    with project.lock:
        project.schema = Schema(metadata, old.repeating)
    try:
        code, out, err = _night(night_dir, capsys)
    finally:
        with project.lock:
            project.schema = old

    assert code == 0, err
    for site in SITES:
        line = next(ln for ln in out.splitlines() if ln.startswith(f"{site}: "))
        assert "full pull" in line and "data dictionary changed: " in line
        assert "added: crp" in line and "choices changed: sex" in line
    run, snaps, _ = _last_run(night_dir)
    assert run.status == "succeeded"
    pulls = [st for st in run.stages if st.stage == "pull" and st.site]
    assert all("added: crp" in st.counts["dictionary_changes"] for st in pulls)
    assert all(snaps[s][0].dictionary_changes["choices_changed"] == ["sex"] for s in SITES)
    assert all(snaps[s][0].dictionary_changes["added"] == ["crp"] for s in SITES)
    with Store.open(load_settings(night_dir / "settings.toml").store.url) as store:
        assert any(m["field_name"] == "crp" for m in store.snapshot_metadata(snaps["paris"][0].id))
    _check_good_night_kept(night_dir, baseline, before)


def test_a_site_failing_its_first_pull_is_left_out_and_the_study_report_says_so(
        night_sandbox, tmp_path, capsys):
    """First night ever, lille's token is wrong: the others are pulled, validated and
    analysed (exit 1); lille has no snapshot, no site report, and the study report names
    it as left out instead of dropping it silently."""
    from tests.nightly.conftest import write_settings

    settings = write_settings(night_sandbox, tmp_path)
    tokens = night_sandbox.tokens
    write_private(tmp_path / "sandbox.tokens", token_file_text(tokens).replace(
        tokens["lille"], "0123456789ABCDEF0123456789ABCDEF"))

    code, out, err = _night(tmp_path, capsys)

    assert code == 1, err
    assert "lille: pull FAILED and no earlier snapshot; left out of this run" in out
    failures = re.findall(r"(?m)^registry nightly: (.*)$", err)
    assert len(failures) == 1 and "site 'lille'" in failures[0]
    with Store.open(load_settings(settings).store.url) as store:
        run = store.runs()[0]
        assert store.snapshots("lille") == []
    assert sorted(run.snapshots) == ["lyon", "paris"] and run.status == "partial"
    folder = tmp_path / "var" / "reports" / run.id
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f for f in FILES if "lille" not in f)
    study = pdf_text(folder / "jak_cni.pdf")
    label = load_settings(settings).site("lille").display_name
    assert f"{label}: never reached, so none of its patients are in this analysis" in study
    assert "left out: never reached" in study
