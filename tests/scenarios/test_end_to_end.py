"""Every scenario project end to end over HTTP, with errors injected into a copy.

`registry sandbox --project` (SandboxServer.from_folder) -> `registry pull` ->
`validate` -> `report`, as a user runs them (`tests.scenarios.e2e.Night`), on a copy
of the scenario with `N_ERRORS` known errors injected (`tests.scenarios.inject`).
Judged against the ground truth: every injected cell is flagged with the rule its
kind breaks, and no cell the injection did not touch is flagged unless the clean
project already has that flag (or the flag's field reads an injected one). Each
command exits 0 or 1 with no traceback; the site PDF is read back.

One pass per scenario; the wide one at 20 records, pull + validate only (about 22 s
CPU, measured 2026-12-02: tidying 5,751 fields costs most of it whatever the record
count; its full size is benchmarks/quality_wide.py's).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from tests.reports.pdf_text import text as pdf_text
from tests.scenarios import SCENARIOS, scenario_path
from tests.scenarios.e2e import RULE_OF_KIND, Night, clean_flags, explained, flag_keys
from tests.scenarios.inject import inject_errors

N_ERRORS = 10
WIDE_RECORDS = 20
SMALL = [name for name in SCENARIOS if name != "wide"]


def _record_ids(folder: Path) -> set[str]:
    with (folder / "records.csv").open(encoding="utf-8-sig", newline="") as fh:
        return {row[0] for row in list(csv.reader(fh))[1:]}


def _check_commands(night: Night) -> None:
    for name, done in night.results.items():
        assert done.code in (0, 1), (name, done.code, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, (name, done.stderr)


def _judge(night: Night, source: Path, errors) -> dict[str, int]:
    flags = night.flags()
    found = flag_keys(flags)
    by_cell: dict[tuple, set[str]] = {}
    for c, rule in found:
        by_cell.setdefault(c, set()).add(rule)
    missed = []
    for e in errors:
        c = (e.record, e.event, "" if e.instance is None else str(e.instance), e.field)
        want = f"dictionary.{e.field}.{RULE_OF_KIND[e.kind]}"
        if want not in by_cell.get(c, set()):
            missed.append((e, sorted(by_cell.get(c, set()))))
    assert not missed, missed
    injected_cells = {(e.record, e.event, "" if e.instance is None else str(e.instance),
                       e.field) for e in errors}
    baseline = clean_flags(night, errors, source)
    from registry.sandbox.folder import read_dictionary

    metadata = read_dictionary(source / "dictionary.csv")
    injected_fields = {e.field for e in errors}
    extra = sorted((c, rule) for c, rule in found - baseline
                   if c not in injected_cells and not explained(c[3], injected_fields, metadata))
    assert not extra, extra
    # the clean flags are all still there, but for the injected cells' own
    lost = sorted((c, rule) for c, rule in baseline - found if c not in injected_cells)
    assert not lost, lost
    return {"flags": len(found), "clean_flags": len(baseline), "injected": len(errors)}


@pytest.mark.parametrize("name", SMALL)
def test_scenario_end_to_end_finds_the_injected_errors(name, tmp_path):
    source = scenario_path(name)
    project = tmp_path / "project"
    errors = inject_errors(name, project, n=N_ERRORS, seed=7)
    assert errors, "no error could be injected"
    night = Night(project, tmp_path / "work").run()
    _check_commands(night)
    assert [night.results[c].code for c in ("pull", "validate", "report")] == [0, 0, 0]
    counts = _judge(night, source, errors)
    from registry.settings import load_settings

    sites = [s.name for s in load_settings(night.settings).sites]
    if name in ("dags", "unicode"):  # records in no DAG get a site of their own
        assert sites[-1] == "no_dag" and any(e.record in ("1", "2") for e in errors)
    pulled = [int(n) for n in re.findall(r": full pull -> snapshot \d+: (\d+) records",
                                         night.results["pull"].stdout)]
    assert len(pulled) == len(sites) and sum(pulled) == len(_record_ids(source))  # each once
    assert sorted(p.name for p in night.out_dir.glob("flags-*.csv")) == \
        sorted(f"flags-{s}.csv" for s in sites)
    pdfs = sorted(night.out_dir.glob("site-*.pdf"))
    assert pdfs and len(pdfs) == len(list(night.out_dir.glob("flags-*.csv")))
    text = " ".join(pdf_text(p) for p in pdfs)
    for e in errors:
        assert e.record in text, (e, "record not in the site PDF")
    print(f"{name}: {counts}")


def test_wide_scenario_pull_and_validate_at_reduced_size(tmp_path):
    source = scenario_path("wide", records=WIDE_RECORDS)
    project = tmp_path / "project"
    errors = inject_errors(source, project, n=N_ERRORS, seed=7)
    night = Night(project, tmp_path / "work", commands=("pull", "validate")).run()
    _check_commands(night)
    assert [night.results[c].code for c in ("pull", "validate")] == [0, 0]
    counts = _judge(night, source, errors)
    print(f"wide: {counts}")
