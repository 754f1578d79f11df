"""`registry report [--run RUN_ID]`: a run's PDFs into `<reports_dir>/<run_id>/`.

One site PDF per site the run used a snapshot of, one study PDF per study the run saved
results for. Everything comes from the store, so an old run's reports are rebuilt as
they were.
"""

from __future__ import annotations

from pathlib import Path

from registry.errors import RegistryError
from registry.reports.from_store import site_report_from_store, study_report_from_store
from registry.reports.site import render_site_pdf
from registry.reports.study import render_study_pdf
from registry.settings import Settings

__all__ = ["build_reports"]


def build_reports(settings: Settings, run_id: str | None = None) -> list[Path]:
    """Write the PDFs of run `run_id` (default: the newest run); return their paths."""
    from registry.store import Store

    with Store.open(settings.store.url) as store:
        if run_id is None:
            runs = store.runs(limit=1)
            if not runs:
                raise RegistryError(f"the store {store.url} holds no run yet: run "
                                    "`registry nightly` (or `registry demo`) first")
            run_id = runs[0].id
        run = store.run(run_id)
        labels = {s.name: s.display_name for s in settings.sites}
        out_dir = settings.reports_dir / run_id
        written = []
        for site in sorted(run.snapshots):
            report = site_report_from_store(store, run_id, site,
                                            site_label=labels.get(site, site))
            written.append(render_site_pdf(report, out_dir / f"site-{site}.pdf"))
        for study in store.result_studies(run_id):
            report = study_report_from_store(store, run_id, study, site_labels=labels)
            written.append(render_study_pdf(report, out_dir / f"{study}.pdf"))
        return written
