"""A run's output folder, `<reports_dir>/<run_id>/`, written whole or not at all.

Everything comes from the store (flags, analysis results, snapshots), so any past
run's outputs can be rebuilt identically with `registry report --run RUN_ID`:

- `site-<site>.pdf` and `flags-<site>.csv` for every site the run used,
- `<study>.pdf`, `<study>.json` and `<study>-matched.csv` for every study analysed.

The folder is assembled under a temporary name and renamed into place, so a run
killed at any point leaves the previous outputs as they were.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from registry.atomic import atomic_dir
from registry.errors import RegistryError
from registry.permissions import group_id, share_with_group
from registry.quality.lifecycle import OPEN_STATUSES
from registry.settings import Settings
from registry.store import Store

__all__ = ["FLAG_CSV_COLUMNS", "flags_csv", "remove_partial_outputs", "write_run_outputs"]

#: `flags-<site>.csv`, exactly as DESIGN.md gives it (other tools read it).
FLAG_CSV_COLUMNS = ("site", "record_id", "form", "instance", "field", "rule_id", "severity",
                    "status", "first_seen", "message", "link", "event", "label", "suggestion")
_CSV_STATUSES = (*OPEN_STATUSES, "resolved")
#: Beside the run lock (the tool's state folder): PDFs rendered, by the SHA-256 of their input.
RENDER_CACHE = Path("cache", "pdf")
_SEVERITY_ORDER = {"blocking": 0, "warning": 1}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "date") and callable(value.date):  # first_seen: the day is enough
        return value.date().isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def flags_csv(flags: Iterable[Mapping[str, Any]], site: str) -> str:
    """`flags-<site>.csv`: one row per open or just-resolved flag of `site` only.

    `flags` as the quality stage made them (`registry.quality.stage.flags_from_store`):
    a resolved flag is listed only the night it got resolved (`reported`).
    """
    rows = [f for f in flags if f.get("site") == site and f.get("status") in _CSV_STATUSES
            and f.get("reported", True)]
    rows.sort(key=lambda f: (f.get("status") == "resolved",
                             _SEVERITY_ORDER.get(str(f.get("severity")), 9),
                             str(f.get("record_id")), str(f.get("event") or ""),
                             str(f.get("form")),
                             str(f.get("instance") or ""), str(f.get("field")),
                             str(f.get("rule_id"))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FLAG_CSV_COLUMNS)
    for f in rows:
        writer.writerow([_cell(f.get(col)) for col in FLAG_CSV_COLUMNS])
    return out.getvalue()


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
    from registry.reports.from_store import site_report_from_store, study_report_from_store
    from registry.reports.payloads import MATCHED_KIND, STUDY_KIND
    from registry.reports.reuse import site_report_run
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
        for site in sites:
            _inside(tmp, f"flags-{site}.csv").write_text(flags_csv(flags, site),
                                                         encoding="utf-8")
            if pdfs:  # an unchanged site shows the report of the run it last changed in
                site_report = site_report_from_store(store, site_report_run(store, run_id, site),
                                                     site, site_label=labels.get(site, site))
                render_site_pdf(site_report, _inside(tmp, f"site-{site}.pdf"))
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
    return final
