"""A night when REDCap drops rows from paris's answers (issue 11.1).

Before: five records stored as deleted, exit 0, the study's numbers moved, and their
flags "resolved". Now paris fails with one line, keeps its last snapshot (all of its
records), none of its flags is resolved, and lyon and lille are pulled as usual. The
night runs without the study (`without_study`): what is checked is the pull's and the
flags', and the study's analysis and PDF are half a night's CPU.
"""

from __future__ import annotations

import re

from registry.commands.nightly import nightly_command
from registry.settings import load_settings
from registry.store import Store
from tests.nightly.conftest import without_study


def test_dropped_rows_fail_only_that_site_and_resolve_no_flag(night_dir, night_sandbox,
                                                              baseline, capsys):
    without_study(night_dir)
    paris = night_sandbox.tokens["paris"]
    rule = night_sandbox.faults.add("drop_rows", content="record", count=None, fraction=0.1,
                                    token=paris)

    code = nightly_command(night_dir / "settings.toml")
    out, err = capsys.readouterr()

    assert code == 1 and rule.fired >= 2
    failures = re.findall(r"(?m)^registry nightly: (.*)$", err)
    assert len(failures) == 1, err
    assert "site 'paris'" in failures[0] and "log shows no deletion" in failures[0]
    with Store.open(load_settings(night_dir / "settings.toml").store.url) as store:
        run = store.runs(limit=1)[0]
        assert run.status == "partial"
        assert not run.snapshots["paris"].fresh
        assert run.snapshots["lyon"].fresh and run.snapshots["lille"].fresh
        good = store.run(baseline.run_id)
        assert run.snapshots["paris"].snapshot_id == good.snapshots["paris"].snapshot_id
        before = store.flags(baseline.run_id, site="paris")
        now = store.flags(run.id, site="paris")
    assert before and not [f for f in now if f["status"] == "resolved"]
    assert len(now) == len(before)
