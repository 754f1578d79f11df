"""A run's output folder, `<reports_dir>/<run_id>/`, written whole or not at all.

Everything comes from the store (flags, analysis results, snapshots), so any past
run's outputs can be rebuilt identically with `registry report --run RUN_ID`:

- `site-<site>.pdf`, `flags-<site>.csv` and `flags-<site>.xlsx` for every site the run
  validated (`registry.reports.spreadsheets`; the spreadsheets owner-only),
- `<study>.pdf`, `<study>.json` and `<study>-matched.csv` for every study analysed.

The folder is assembled under a temporary name and renamed into place, so a run
killed at any point leaves the previous outputs as they were.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry.atomic import atomic_dir
from registry.errors import RegistryError
from registry.permissions import group_id, share_with_group
from registry.reports.spreadsheets import FLAG_CSV_COLUMNS, flags_csv
from registry.settings import Settings
from registry.store import Store

__all__ = ["FLAG_CSV_COLUMNS", "flags_csv", "remove_partial_outputs", "write_run_outputs"]

#: Beside the run lock (the tool's state folder): PDFs rendered, by the SHA-256 of their input.
RENDER_CACHE = Path("cache", "pdf")


def _private(path: Path, data: bytes) -> None:
    """A file of patient data: readable by the owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _finite(value: Any) -> Any:
    """JSON has no NaN: a number that could not be estimated is written as null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _inside(folder: Path, name: str) -> Path:
    """`folder / name`, refused unless it is a plain file name in `folder`: names from
    the data or the settings (sites, studies) never choose a path outside the run's
    folder, whatever a store written by an older version holds."""
    path = folder / name
    if (not name or name in (".", "..") or Path(name).name != name or "\\" in name
            or path.resolve().parent != folder.resolve()):
        raise RegistryError(f"refusing to write {name!r}: an output's name must be a plain "
                            f"file name inside the run folder {folder.name}")
    return path


def remove_partial_outputs(settings: Settings, run_id: str) -> list[Path]:
    """Remove the temporary output folders a killed run `run_id` left; return them.

    `atomic_dir` only sweeps leftovers of the folder it is about to write, and a new
    night writes a new run's folder, so the nightly calls this (holding the run lock)
    for each run it marks abandoned.
    """
    import shutil

    gone = []
    if settings.reports_dir.is_dir():
        for stale in sorted(settings.reports_dir.glob(f".{run_id}.*.partial")):
            shutil.rmtree(stale, ignore_errors=True)
            gone.append(stale)
    return gone


def write_run_outputs(settings: Settings, store: Store, run_id: str, *,
                      pdfs: bool = True) -> Path:
    """Write run `run_id`'s whole output folder from the store; return its path.

    `pdfs` False writes only the CSV and JSON files (`registry validate`; `registry
    report` adds the PDFs later). A disk that cannot take them (full, read-only) is a
    `RegistryError` (exit 3): the temporary folder is removed and the earlier run
    folders are left as they were.
    """
    try:
        final = _write(settings, store, run_id, pdfs)
        if settings.reports_group is not None:
            gid = group_id(settings.reports_group)
            if gid is None:
                raise RegistryError(f"reports.group {settings.reports_group!r} is not a "
                                    "group on this system any more")
            share_with_group(settings.reports_dir, final, gid)
        return final
    except OSError as exc:  # a full or read-only disk: the earlier folders stay as they were
        reason = exc.strerror or str(exc)
        raise RegistryError(f"cannot write the outputs of run {run_id} in "
                            f"{settings.reports_dir}: {reason}; earlier outputs are "
                            "untouched") from exc


def _write(settings: Settings, store: Store, run_id: str, pdfs: bool) -> Path:
    from registry.quality.stage import flags_from_store
    from registry.reports.batch import RenderBatch, default_workers
    from registry.reports.from_store import (
        site_report_from_store,
        snapshot_shape,
        study_report_from_store,
    )
    from registry.reports.payloads import MATCHED_KIND, STUDY_KIND
    from registry.reports.reuse import site_report_run
    from registry.reports.spreadsheets import flags_xlsx

    if pdfs:  # the PDF makers load matplotlib: not for a run without PDFs (validate)
        from registry.reports.site import render_site_pdf
        from registry.reports.study import render_study_pdf

    run = store.run(run_id)
    labels = {s.name: s.display_name for s in settings.sites}
    final = settings.reports_dir / run_id
    flags = flags_from_store(store.flags(run_id))
    # site outputs only for the sites this run validated: another run's flags are not its own
    validated = set(store.flag_sites(run_id))
    studies = store.result_studies(run_id)
    sites = sorted(validated & set(run.snapshots))
    # PDFs on every core, each copied instead when its input was rendered before
    batch = RenderBatch(settings.lock_file.parent / RENDER_CACHE,
                        workers=default_workers(len(sites) + len(studies)) if pdfs else 0)
    with atomic_dir(final) as tmp, batch:
        # the studies first: the longest PDF to lay out, so a worker starts on it now
        for study in studies:
            results = store.results(run_id, study)
            if STUDY_KIND in results:
                _inside(tmp, f"{study}.json").write_text(
                    json.dumps(_finite(results[STUDY_KIND]), indent=2, allow_nan=False) + "\n",
                    encoding="utf-8")
            if MATCHED_KIND in results:
                _inside(tmp, f"{study}-matched.csv").write_text(results[MATCHED_KIND],
                                                                encoding="utf-8")
            if pdfs:
                study_report = study_report_from_store(store, run_id, study,
                                                       site_labels=labels)
                render_study_pdf(study_report, _inside(tmp, f"{study}.pdf"))
        # every site's PDF queued before any spreadsheet is written: the workers lay them
        # out while this process writes the CSV and Excel files (written in between, they
        # held each next PDF back by the time of a workbook, and the workers waited)
        for site in sites if pdfs else ():  # an unchanged site: the report of its last change
            site_report = site_report_from_store(store, site_report_run(store, run_id, site),
                                                 site, site_label=labels.get(site, site))
            render_site_pdf(site_report, _inside(tmp, f"site-{site}.pdf"))
        for site in sites:
            csv_text = flags_csv(flags, site, settings.csv_separator)
            _private(_inside(tmp, f"flags-{site}.csv"), csv_text.encode("utf-8-sig"))
            shape = snapshot_shape(store, store.snapshot(run.snapshots[site].snapshot_id))
            _private(_inside(tmp, f"flags-{site}.xlsx"), flags_xlsx(
                flags, site, site_label=labels.get(site, site), run_id=run_id,
                form_order=shape["form_order"], form_labels=shape["form_labels"],
                when=run.started_at))
    return final
