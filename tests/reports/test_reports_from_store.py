"""Reports rebuilt from a real SQLite store: a generated registry, a real `run_study`,
flags over three nights; the PDFs' numbers are the saved `<study>.json`'s."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pdf_text
import pytest

from registry.errors import RegistryError
from registry.reports.format import fmt_ci, fmt_hr, fmt_int, fmt_p
from registry.reports.from_store import site_report_from_store, study_report_from_store
from registry.reports.payloads import field_labels, study_payloads
from registry.reports.site import render_site_pdf
from registry.reports.study import render_study_pdf
from registry.store import Store
from tests import anti_mda5

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SITES = ("paris", "lyon")


def _flag(site: str, record: str, rule: str, severity: str, status: str) -> dict:
    url = f"http://redcap.test/redcap_v14/DataEntry/index.php?pid=7&id={record}&page=outcome"
    return {"site": site, "record_id": record, "form": "outcome", "instance": None,
            "field": "death_date", "rule_id": rule, "severity": severity, "status": status,
            "first_seen": T0, "message": f"{rule} on {record}", "link": url}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """Three nightly runs; lyon's pull fails on the last one (its old snapshot is used)."""
    from analyses.run import run_study
    from registry.sandbox.generator import GeneratorParams, generate
    from registry.tidy import tidy

    reg = generate(GeneratorParams(seed=5, patients=120, sites=2, error_rate=0.0))
    by_site: dict[str, list[dict]] = {}
    for row in reg.records:
        by_site.setdefault(row["redcap_data_access_group"], []).append(row)
    dags = sorted(by_site)
    path = tmp_path_factory.mktemp("store") / "registry.sqlite"
    st = Store.open(f"sqlite:///{path}")
    snaps: dict[str, int] = {}
    nights = [
        {"paris": [("P1", "r.a", "blocking", "new"), ("P2", "r.b", "warning", "new")],
         "lyon": [("L1", "r.a", "blocking", "new")]},
        {"paris": [("P1", "r.a", "blocking", "open"), ("P2", "r.b", "warning", "open"),
                   ("P3", "r.c", "warning", "new")],
         "lyon": [("L1", "r.a", "blocking", "open")]},
        {"paris": [("P1", "r.a", "blocking", "open"), ("P4", "r.d", "blocking", "new")],
         "lyon": [("L1", "r.a", "blocking", "open")]},
    ]
    from analyses.study import parse_study
    spec = parse_study(anti_mda5.STUDY
                       .read_text())
    frames = tidy({s: by_site[d] for s, d in zip(SITES, dags, strict=True)}, reg.schema())
    # 10 per-protocol bootstrap replicates, not the study's 100: no test here reads its CI
    result = run_study(spec, frames, excluded=frozenset(), seed=1, seed_repeats=3,
                       n_bootstrap=10)
    run_ids = []
    for night, flags in enumerate(nights):
        when = T0 + timedelta(days=night)
        run_id = st.start_run("nightly", started_at=when)
        run_ids.append(run_id)
        for site, dag in zip(SITES, dags, strict=True):
            if site == "lyon" and night == 2:
                st.stage(run_id, "pull", site, "failed", message="REDCap unreachable")
                st.use_snapshot(run_id, site, snaps[site], fresh=False)
            else:
                records: dict[str, list] = {}
                for row in by_site[dag]:
                    records.setdefault(row["record_id"], []).append(row)
                info = st.write_snapshot(site, records, metadata=reg.metadata,
                                         created_at=when)
                snaps[site] = info.id
                st.use_snapshot(run_id, site, info.id, fresh=True)
            st.save_flags(run_id, site, snaps[site],
                          [_flag(site, *f) for f in flags[site]])
            st.save_rule_results(run_id, site, [
                {"rule_id": "r.a", "severity": "blocking", "checked": 60, "failed": 1,
                 "percent": 1.7, "status": "failed"},
                {"rule_id": "r.b", "severity": "warning", "checked": 60, "failed": 0,
                 "percent": 0.0, "status": "passed"}])
        payloads = study_payloads(result, spec, snapshot=f"S{night}", run_id=run_id,
                                  exposed_label="JAK-CNI", labels=field_labels(reg.metadata),
                                  versions={"python": "3.11", "lifelines": "0.30.3"})
        for kind, payload in payloads.items():
            st.save_result(run_id, "jak_cni", kind, payload)
        st.finish_run(run_id, "succeeded", 0)
    st.run_ids = run_ids  # type: ignore[attr-defined]
    st.path = path  # type: ignore[attr-defined]
    yield st
    st.close()


def test_site_report_from_the_store(store, tmp_path: Path):
    run_id = store.run_ids[-1]
    report = site_report_from_store(store, run_id, "paris", site_label="Paris")
    assert {f.record_id for f in report.open_flags} == {"P1", "P4"}
    # P2 and P3 were open last night and are gone tonight: fixed
    assert {f.record_id for f in report.resolved_flags} == {"P2", "P3"}
    assert report.n_new == 1 and report.previous_run_id == store.run_ids[1]
    assert [(n.blocking, n.warning) for n in report.history] == [(1, 1), (1, 2), (2, 0)]
    assert report.stale_note is None
    content = pdf_text.text(render_site_pdf(report, tmp_path / "site-paris.pdf"))
    assert "2 records with 2 blocking flags." in content
    assert "L1" not in content


def test_fix_times_reopen_rate_and_suggestions_come_from_the_flag_history(tmp_path: Path):
    st = Store.open(f"sqlite:///{tmp_path / 'h.sqlite'}")
    more = {"label": "Date of death", "suggestion": "Check the date of death.",
            "value": "2001-01-01", "involves": "death_date diagnosis_date", "reported": True}

    def flag(record: str, status: str, first: datetime, reported: bool = True) -> dict:
        return {**_flag("paris", record, "r.a", "blocking", status), "first_seen": first,
                "details": {**more, "reported": reported}}

    old = T0 - timedelta(days=200)  # fixed before the 90 days: not counted
    nights = [[flag("P9", "new", old)], [flag("P9", "resolved", old)],
              [flag("P1", "new", T0)],
              [flag("P1", "resolved", T0), flag("P2", "new", T0 + timedelta(days=1))],
              [flag("P1", "reopened", T0), flag("P2", "open", T0 + timedelta(days=1))],
              [flag("P1", "open", T0), flag("P2", "resolved", T0 + timedelta(days=1))],
              [flag("P1", "open", T0), flag("P2", "resolved", T0 + timedelta(days=1),
                                            reported=False)]]
    starts = [old, old + timedelta(days=1), *(T0 + timedelta(days=i) for i in range(5))]
    for when, flags in zip(starts, nights, strict=True):
        run_id = st.start_run("nightly", started_at=when)
        info = st.write_snapshot("paris", {}, metadata=[], created_at=when)
        st.use_snapshot(run_id, "paris", info.id, fresh=True)
        st.save_flags(run_id, "paris", info.id, flags)
        st.finish_run(run_id, "succeeded", 0)
    report = site_report_from_store(st, run_id, "paris")
    st.close()
    # P1 fixed after 1 day then back; P2 fixed after 2 days; P9 outside the window
    assert report.resolution is not None
    assert (report.resolution.resolved, report.resolution.reopened) == (2, 1)
    assert report.resolution.median_days == 1.5 and report.resolution.reopen_rate == 0.5
    flag_p1 = next(f for f in report.open_flags if f.record_id == "P1")
    assert (flag_p1.label, flag_p1.suggestion, flag_p1.value) == (
        "Date of death", "Check the date of death.", "2001-01-01")
    assert flag_p1.involves == ("death_date", "diagnosis_date")
    assert (report.run_time.date() - flag_p1.first_seen).days == 4


def test_a_site_whose_pull_failed_says_so(store):
    report = site_report_from_store(store, store.run_ids[-1], "lyon")
    # said once, in the coordinator's words: no REDCap error text, no settings advice
    assert report.stale_note == ("Tonight's pull from REDCap did not succeed; the registry's "
                                 "administrator has the details.")
    assert report.snapshot_time == datetime(2026, 11, 24, 2, 0)


def test_study_report_numbers_are_the_saved_study_json(store, tmp_path: Path):
    run_id = store.run_ids[-1]
    saved = store.result(run_id, "jak_cni", "study")
    report = study_report_from_store(store, run_id, "jak_cni",
                                     site_labels={"paris": "Paris", "lyon": "Lyon"})
    assert report.previous is not None and report.previous.run_id == store.run_ids[1]
    assert [s.current for s in report.sites] == [False, True]  # lyon (stale), paris
    path = render_study_pdf(report, tmp_path / "jak_cni.pdf")
    content = pdf_text.text(path)
    table = content[content.index("Results Analysis Sets"):]
    for entry in saved["analyses"]:
        sets = "–" if entry["method"] == "cohort" else fmt_int(entry["n_sets"])
        row = " ".join([sets, fmt_int(entry["n_exposed"]),
                        fmt_int(entry["n_controls"]), fmt_int(entry["events"]),
                        fmt_hr(entry["hr"]), fmt_ci(entry["ci_low"], entry["ci_high"]),
                        fmt_p(entry["p"])])
        assert re.search(re.escape(row), table), (entry["name"], row)
    assert "Lyon: not reached tonight, last good data of 24 Nov 2026, 02:00 UTC" in content
    assert "REDCap unreachable" not in content        # the error stays in the logs
    # the issue asks the study report to say why its primary CI is the one it is
    assert re.search(r"its\s+CI\s+carries\s+both\s+the\s+sampling\s+of\s+patients\s+and\s+"
                     r"the\s+draw\s+of\s+the\s+controls", content)
    main = saved["analyses"][0]
    assert re.search(rf"The\s+headline\s+combines\s+{main['n_draws']}\s+re-drawn\s+"
                     r"matchings", content)
    assert "Risk-set-matched cohort" in content
    # rebuilt from the store again: the same bytes
    again = study_report_from_store(store, run_id, "jak_cni",
                                    site_labels={"paris": "Paris", "lyon": "Lyon"})
    assert render_study_pdf(again, tmp_path / "again.pdf").read_bytes() == path.read_bytes()


def test_missing_results_and_runs_are_one_line_errors(store):
    with pytest.raises(RegistryError, match="no saved results for study 'other'"):
        study_report_from_store(store, store.run_ids[0], "other")
    with pytest.raises(RegistryError, match="no run"):
        site_report_from_store(store, "19990101-000000-0000", "paris")
    with pytest.raises(RegistryError, match="no snapshot of site 'nice'"):
        site_report_from_store(store, store.run_ids[0], "nice")


def _report(settings: Path, run_id: str, **kw) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "registry", "report", "--run", run_id,
                           "--settings", str(settings)], env=env, capture_output=True,
                          text=True, timeout=120, **kw)


@pytest.fixture(scope="module")
def report_command(store, tmp_path_factory: pytest.TempPathFactory):
    """`registry report --run <the first night>` run once, as a user runs it (its own
    process, umask 022), with `[reports] group` set to this process's group: (settings
    path, the run's output folder, the process's outcome). The tests below only read
    what it wrote; the PDFs are laid out once for both."""
    import grp

    tmp = tmp_path_factory.mktemp("report-command")
    group = grp.getgrgid(os.getgid()).gr_name
    settings = tmp / "settings.toml"
    settings.write_text(
        f'[store]\nurl = "sqlite:///{store.path}"\n[reports]\ndir = "out"\n'
        f'group = "{group}"\n'
        '[[sites]]\nname = "paris"\nlabel = "Paris"\nurl = "http://127.0.0.1:1/api/"\n'
        'token_env = "T_PARIS"\n'
        '[[sites]]\nname = "lyon"\nurl = "http://127.0.0.1:1/api/"\ntoken_env = "T_LYON"\n')
    run_id = store.run_ids[0]
    done = _report(settings, run_id, umask=0o022)
    return settings, tmp / "out" / run_id, done


def test_registry_report_command_writes_the_run_pdfs(report_command):
    settings, out, done = report_command
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "flags-lyon.csv", "flags-lyon.xlsx", "flags-paris.csv", "flags-paris.xlsx",
        "jak_cni.json", "jak_cni.pdf", "site-lyon.pdf",
        "site-paris.pdf"]
    assert "Data checks for Paris" in pdf_text.text(out / "site-paris.pdf")
    bad = _report(settings, "nope")
    assert bad.returncode == 2  # bad usage: no such run
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_a_group_named_in_the_settings_may_read_the_reports_and_nothing_else(
        report_command, tmp_path: Path):
    """`[reports] group`: run folders 0750 and files 0640, of that group; under umask
    022 the report command still makes them no wider."""
    import grp
    import stat

    settings, out, done = report_command
    assert done.returncode == 0, done.stderr
    for path in (out.parent, out, *out.iterdir()):
        info = path.stat()
        assert info.st_gid == os.getgid()
        assert stat.S_IMODE(info.st_mode) == (0o750 if path.is_dir() else 0o640), path
    group = grp.getgrgid(os.getgid()).gr_name
    bad = tmp_path / "settings.toml"
    bad.write_text(settings.read_text().replace(f'group = "{group}"',
                                                'group = "no-such-group-x"'))
    refused = _report(bad, out.name)
    assert refused.returncode == 2 and "reports.group 'no-such-group-x'" in refused.stderr
