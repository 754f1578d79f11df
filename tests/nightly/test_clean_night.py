"""A clean night through the CLI: exit 0, a complete output folder, a run record, status."""

from __future__ import annotations

import re

from registry.settings import load_settings
from registry.store import Store
from tests.nightly.conftest import nightly_cli
from tests.reports.pdf_text import links


def test_clean_night_exits_0_with_a_complete_output_folder(baseline):
    assert baseline.returncode == 0
    out = baseline.folder / "var" / "reports" / baseline.run_id
    names = sorted(p.name for p in out.iterdir())
    sites = ["lille", "lyon", "paris"]
    assert names == sorted([f"site-{s}.pdf" for s in sites] + [f"flags-{s}.csv" for s in sites]
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
    assert len(whole["report"].counts["files"]) == 9


def test_status_shows_the_nightly_runs_with_stages_per_site(baseline):
    proc = nightly_cli  # noqa: F841 - keep the import used by the module's other tests
    import subprocess
    import sys

    from tests.nightly.conftest import env
    done = subprocess.run([sys.executable, "-m", "registry", "status", "--settings",
                           str(baseline.settings)], env=env(), capture_output=True, text=True,
                          timeout=60, cwd=baseline.folder)
    assert done.returncode == 0, done.stderr
    text = re.sub(r"\s+", " ", done.stdout)
    assert baseline.run_id in text and "succeeded" in text
    for site in ("paris", "lyon", "lille"):
        assert f"{site} #" in text
