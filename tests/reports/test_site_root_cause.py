"""One wrong cell behind many flags, through the production path: a death date typed
before the diagnosis, validated by `run_validate`, saved in a real SQLite store, read
back by `site_report_from_store` and rendered; the PDF names the cell to fix first."""

from __future__ import annotations

from pathlib import Path

import pdf_text

from registry.reports.from_store import site_report_from_store
from registry.reports.site import record_groups, render_site_pdf
from registry.run import run_validate
from registry.sandbox.generator import GeneratorParams, generate
from registry.settings import load_settings
from registry.store import Store
from tests import anti_mda5


def test_a_death_date_before_diagnosis_is_named_as_the_cell_to_fix_first(tmp_path: Path):
    reg = generate(GeneratorParams(seed=5, patients=60, error_rate=0.0))
    rows = [r for r in reg.records if r["redcap_data_access_group"] == "paris"]
    n_rows: dict[str, int] = {}
    for r in rows:
        n_rows[r["record_id"]] = n_rows.get(r["record_id"], 0) + 1
    dead = [r for r in rows if r.get("death_date")]
    victim = max(dead, key=lambda r: (n_rows[r["record_id"]], r["record_id"]))
    victim["death_date"] = "2001-01-01"
    record = victim["record_id"]
    settings_path = tmp_path / "settings.toml"
    settings_path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "r.sqlite"}"\n'
        f'[reports]\ndir = "{tmp_path / "out"}"\n'
        f'[registry]\nprofile = "{anti_mda5.PROFILE}"\n'
        f'[quality]\nsuites = "{anti_mda5.SUITES}"\n'
        f'[run]\nlock_file = "{tmp_path / "lock"}"\n'
        '[[sites]]\nname = "paris"\nurl = "http://127.0.0.1:9/api/"\n'
        'token_env = "REGISTRY_TOKEN_PARIS"\ndag = "paris"\n', encoding="utf-8")
    settings = load_settings(settings_path)
    by_id: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_id.setdefault(r["record_id"], []).append(r)
    with Store.open(settings.store.url) as store:
        store.write_snapshot("paris", by_id, metadata=reg.metadata,
                             project_info={"project_info": reg.project_info,
                                           "version": "15.0.0"})
    run = run_validate(settings)
    with Store.open(settings.store.url) as store:
        report = site_report_from_store(store, run.run_id, "paris", site_label="Paris")
    group = next(g for g in record_groups(report) if g.record_id == record)
    mine = [f for f in report.open_flags if f.record_id == record]
    assert len(mine) >= 5  # the death flag and every later treatment, stay, infection
    assert group.root is not None and group.root.field == "death_date"
    assert group.root.label == "Date of death" and group.root.value == "2001-01-01"
    assert group.root.explained == len(mine)
    assert group.lines[0].root and all(line.follows for line in group.lines[1:])
    # the other records (clean data) have no root: nothing is grouped by accident
    assert [g.record_id for g in record_groups(report) if g.root] == [record]

    content = pdf_text.text(render_site_pdf(report, tmp_path / "site-paris.pdf"))
    assert (f"Fix first: Date of death (Outcome), now 2001-01-01. {len(mine)} of this "
            f"record's {len(mine)} flags depend on this cell") in content
    assert content.index("Death 2001-01-01 is before the diagnosis") < content.index(
        "is after the end of follow-up 2001-01-01")
