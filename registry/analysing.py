"""The analysis stage of a run: the studies on the tidy frames of the run's snapshots.

The registry side of the analyses: given the frames of the snapshots a run used (one
per site, the last good one where a site's pull failed; read by
`registry.run.run_frames`), it leaves out the patients the study's gating names
(`registry.quality.blocking_patients`: open flags of the severities the study names),
calls the pure `analyses.run_study`, and keeps in the store everything the outputs are
made of: `<study>.json`, `<study>-matched.csv` and the report payload. Nothing is
written to the reports folder here; `registry.outputs` does that, atomically, from the
store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from registry.errors import RegistryError
from registry.log import event, get_logger
from registry.settings import Settings
from registry.store import Store

if TYPE_CHECKING:
    from analyses import StudySpec
    from registry.schema import RegistrySchema
    from registry.tidy import Frames

__all__ = ["STUDY_SEED", "StudyOutcome", "analyse_run", "load_study"]

#: The default master seed (a study file's `[study] seed` overrides it): a rerun on the
#: same snapshots gives the same draws.
STUDY_SEED = 20250101

_log = get_logger("analyse")


@dataclass(frozen=True)
class StudyOutcome:
    """How one study's analysis ended in a run."""

    study: str
    ok: bool
    n_exposed: int = 0
    n_controls: int = 0
    hr: float | None = None
    error: str | None = None

    def line(self) -> str:
        if not self.ok:
            return f"{self.study}: FAILED: {self.error}"
        hr = "not estimable" if self.hr is None else f"{self.hr:.2f}"
        return (f"{self.study}: {self.n_exposed} exposed, {self.n_controls} matched controls, "
                f"HR {hr}")


def load_study(path: Path, schema: RegistrySchema | None = None) -> StudySpec:
    """Read and check a study file: `{ role = ... }` references resolved from the
    registry profile, and (given the schema) every frame, column and event it names
    checked against the project (`registry.studyfile`)."""
    from registry.studyfile import read_study

    return read_study(path, schema)


def _snapshot_text(snapshots: Mapping[str, int]) -> str:
    return ",".join(f"{site}:{sid}" for site, sid in sorted(snapshots.items()))


def analyse_run(settings: Settings, store: Store, run_id: str, frames: Frames,
                metadata: Sequence[Mapping[str, str]], *,
                seed_repeats: int | None = None) -> list[StudyOutcome]:
    """Run every configured study on the snapshots run `run_id` used; keep the results.

    `frames` and `metadata` are the tidy frames and dictionary of those snapshots
    (`registry.run.run_frames`). One study's failure (a malformed study file, data that
    cannot give a result) is recorded for that study and the others go on.
    `seed_repeats` overrides the studies' number of re-drawn matchings (the demo and
    tests use fewer).
    """
    from analyses import AnalysisError, run_study
    from registry.quality.flags import blocking_patients
    from registry.reports.payloads import (
        MATCHED_KIND,
        REPORT_KIND,
        STUDY_KIND,
        field_labels,
        field_levels,
        study_payloads,
    )

    run = store.run(run_id)
    snapshots = {site: used.snapshot_id for site, used in run.snapshots.items()}
    if not settings.studies:
        return []
    # the run's own flags where it validated; otherwise each site's newest flag set
    flags = store.flags(run_id) if store.flag_sites(run_id) else store.flags()
    labels = field_labels(metadata)
    levels = field_levels(metadata)
    outcomes: list[StudyOutcome] = []
    for path in settings.studies:
        name = path.stem
        try:
            spec = load_study(path, getattr(frames, "schema", None))
            name = spec.name
            excluded = blocking_patients(flags, spec.exclude_severities)
            an = settings.analyses
            result = run_study(spec, frames, excluded,
                               seed_repeats=seed_repeats if seed_repeats is not None
                               else an.draws, min_draws=an.min_draws, mc_se=an.draws_mc_se,
                               labels=labels, levels=levels)
            payloads = study_payloads(result, spec, snapshot=_snapshot_text(snapshots),
                                      run_id=run_id, labels=labels,
                                      exposed_label=spec.exposure.label)
            store.save_result(run_id, spec.name, STUDY_KIND, payloads["study"])
            store.save_result(run_id, spec.name, REPORT_KIND, payloads["report"])
            store.save_result(run_id, spec.name, MATCHED_KIND,
                              result.matched.to_csv(index=False, lineterminator="\n"))
        except (AnalysisError, RegistryError) as exc:
            message = exc.message
            event(_log, "analyse.failed", logging.ERROR, study=name, error=message)
            outcomes.append(StudyOutcome(study=name, ok=False, error=message))
            continue
        head, counts = result.main.estimate, result.main.counts
        outcome = StudyOutcome(study=spec.name, ok=True, n_exposed=counts.n_exposed,
                               n_controls=int(round(counts.n_controls)), hr=head.hr)
        event(_log, "analyse.study", study=spec.name, exposed=counts.n_exposed,
              controls=counts.n_controls, events=counts.events, hr=outcome.hr,
              draws=head.n_draws, excluded=len(excluded))
        outcomes.append(outcome)
    return outcomes
