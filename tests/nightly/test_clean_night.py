"""A clean night through the CLI: exit 0, a complete output folder, a run record, status."""

from __future__ import annotations

import re

from registry.settings import load_settings
from registry.store import Store
from tests.cli_main import run_cli
from tests.nightly.conftest import token_leaks
from tests.reports.pdf_text import links


def test_clean_night_exits_0_with_a_complete_output_folder(baseline):
    assert baseline.returncode == 0
    out = baseline.folder / "var" / "reports" / baseline.run_id
    names = sorted(p.name for p in out.iterdir())
    sites = ["lille", "lyon", "paris"]
    assert names == sorted([f"site-{s}.pdf" for s in sites] + [f"flags-{s}.csv" for s in sites]
                           + [f"flags-{s}.xlsx" for s in sites]
                           + ["jak_cni.pdf", "jak_cni.json", "jak_cni-matched.csv"])
    assert not list(out.parent.glob(".*"))  # no temporary folder left
    assert all(p.stat().st_size > 0 for p in out.iterdir())
    assert f"run {baseline.run_id}: succeeded; outputs in {out}" in baseline.stdout
    link = next(u for s in sites for u in links(out / f"site-{s}.pdf"))
    assert "redcap_v15.7.6" in link
    assert "redcap_v15.7.6" in (out / "flags-paris.csv").read_text()
    print(f"baseline night through the CLI: {baseline.seconds:.1f}s")


def test_run_record_has_each_stage_and_each_sites_pull(baseline):
    settings = load_settings(baseline.settings)
    with Store.open(settings.store.url) as store:
        run = store.run(baseline.run_id)
    assert (run.status, run.exit_code, run.kind) == ("succeeded", 0, "nightly")
    assert run.ended_at is not None and run.ended_at >= run.started_at
    whole = {st.stage: st for st in run.stages if st.site is None}
    assert list(whole) == ["pull", "validate", "analyse", "report"]
    for st in whole.values():
        assert st.status == "succeeded"
        assert st.started_at is not None and st.started_at <= st.ended_at
    pulls = {st.site: st for st in run.stages if st.stage == "pull" and st.site}
    assert sorted(pulls) == ["lille", "lyon", "paris"]
    # each site's own timing: the pulls ran one after the other
    order = sorted(pulls.values(), key=lambda st: st.started_at)
    for earlier, later in zip(order, order[1:], strict=False):
        assert earlier.started_at < earlier.ended_at <= later.started_at
    for site, st in pulls.items():
        assert st.status == "succeeded" and st.counts["kind"] == "full"
        assert st.counts["records"] == st.counts["added"] > 0
        assert whole["pull"].started_at <= st.started_at <= st.ended_at <= whole["pull"].ended_at
        assert run.snapshots[site].fresh
    assert sorted(whole["validate"].counts) == ["lille", "lyon", "paris", "rule_errors"]
    assert whole["analyse"].counts["jak_cni"]["ok"] is True
    assert len(whole["report"].counts["files"]) == 12


def test_status_shows_the_nightly_runs_with_stages_per_site(baseline, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # in-process: the console's width as in a pipe
    code, out, err = run_cli(capsys, "status", "--settings", str(baseline.settings))
    assert code == 0, err
    lines = out.splitlines()
    run = next(ln for ln in lines if ln.strip().startswith(baseline.run_id))
    assert re.split(r"\s{2,}", run.strip())[1:4] == ["nightly", "succeeded", "0"]
    assert run.rstrip().endswith("3 fresh")  # every site pulled tonight, none kept
    start = lines.index(next(ln for ln in lines if f"Stages of run {baseline.run_id}" in ln))
    stages = [re.split(r"\s{2,}", ln.strip()) for ln in lines[start + 3:] if ln.strip()]
    assert [(c[0], c[1], c[2]) for c in stages] == [
        ("pull", "paris", "succeeded"), ("pull", "lyon", "succeeded"),
        ("pull", "lille", "succeeded"), ("pull", "(all)", "succeeded"),
        ("validate", "(all)", "succeeded"), ("analyse", "(all)", "succeeded"),
        ("report", "(all)", "succeeded")]
    assert "full pull -> snapshot" in stages[0][4]
    site_rows = [ln for ln in lines if ln.strip().startswith(("paris", "lyon", "lille"))
                 and "full" in ln]
    assert len(site_rows) == 3 and not any("succeeded (" in ln for ln in site_rows)


def test_no_token_in_any_log_store_report_or_output(baseline, night_sandbox, tmp_path):
    """The night ran with the sandbox's random tokens (one per site and the project's):
    none of them is in the log, the store's bytes, any PDF, CSV or JSON, stdout or stderr."""
    tokens = [night_sandbox.tokens.project, *night_sandbox.tokens.by_dag.values()]
    assert len(tokens) == 4 and all(len(t) == 32 for t in tokens)
    assert "event=pull.done" in (baseline.folder / "registry.log").read_text()  # logs were kept
    assert (baseline.folder / "var" / "registry.sqlite").stat().st_size > 0
    assert token_leaks(baseline.folder, tokens,
                       {"stdout": baseline.stdout, "stderr": baseline.stderr}) == []
    # the check can fail: a token in a file or a stream is found
    (tmp_path / "probe.csv").write_text(f"x,{tokens[1].lower()}\n")
    assert token_leaks(tmp_path, tokens, {"stderr": f"token={tokens[2]}"}) == \
        ["probe.csv", "stderr"]


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (INFO|WARNING|ERROR) event=[a-z_.]+( |$)")


def test_logs_are_one_line_per_event_in_the_file_and_not_on_stderr(baseline):
    log = (baseline.folder / "registry.log").read_text().splitlines()
    events = [ln.split()[2] for ln in log]
    for name in ("run.start", "pull.start", "validate.start", "analyse.start", "report.start",
                 "report.done", "run.done"):
        assert f"event={name}" in events
    assert [ln for ln in log if not LOG_LINE.match(ln)] == []
    assert baseline.stderr == ""  # a clean night: nothing on stderr (--verbose adds the log)


def test_everything_the_night_wrote_is_owner_only_under_umask_022(baseline):
    """Before: under umask 022 the store, the log and every report were 0644 in 0755
    folders (and the PDFs 0644 even under umask 077, from a forced chmod)."""
    import stat

    wrote = [baseline.folder / "registry.log", baseline.folder / "var",
             *sorted((baseline.folder / "var").rglob("*"))]
    modes = {str(p.relative_to(baseline.folder)): stat.S_IMODE(p.stat().st_mode) for p in wrote}
    assert any(name.endswith(".pdf") for name in modes) and any("sqlite" in n for n in modes)
    wrong = {name: oct(mode) for name, mode in modes.items()
             if mode != (0o700 if (baseline.folder / name).is_dir() else 0o600)}
    assert wrong == {}
