"""The settings as the rest of the registry reads them: frozen dataclasses, one per table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from registry.delivery.config import DeliverySettings
from registry.errors import SettingsError
from registry.settings.sites import Site


@dataclass(frozen=True)
class StoreSettings:
    url: str = "sqlite:///var/registry.sqlite"


@dataclass(frozen=True)
class PullSettings:
    """How hard the pull may push a REDCap server, and when to pull everything."""

    batch_size: int = 200
    min_batch_size: int = 10
    requests_per_minute: int = 300
    timeout_seconds: float = 60.0
    retries: int = 4
    backoff_seconds: float = 1.0
    full_pull_every_days: int = 7
    overlap_minutes: int = 10


@dataclass(frozen=True)
class QualitySettings:
    #: The folder of the registry's domain suites (and its `_dictionary.json`); None:
    #: only the checks derived from the data dictionary run.
    suites: Path | None = None


@dataclass(frozen=True)
class AnalysesSettings:
    """How many re-drawn matchings the studies' headline combines (`[analyses]`).

    The draws stop once the Monte-Carlo SE of the headline log HR is `draws_mc_se`
    (what another master seed would move it by), with at least `min_draws` and at most
    `draws` (None: the study file's `seed_repeats`). Defaults keep the 100x nightly in
    its budget (benchmarks/RESULTS.md); the headline's CI is analytic. The per-protocol
    row's bootstrap is the study file's (`[study] pp_bootstrap`, run only up to
    `pp_bootstrap_max_patients` eligible patients).
    """

    draws: int | None = None
    min_draws: int = 50
    draws_mc_se: float = 0.005


@dataclass(frozen=True)
class Settings:
    path: Path
    store: StoreSettings
    reports_dir: Path
    sites: tuple[Site, ...]
    pull: PullSettings = field(default_factory=PullSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    analyses: AnalysesSettings = field(default_factory=AnalysesSettings)
    studies: tuple[Path, ...] = ()
    log_file: Path | None = None
    #: The registry profile (what REDCap cannot say: frames, roles, cross-form columns);
    #: None: pull, the dictionary checks, flags and site reports still work.
    profile: Path | None = None
    lock_file: Path = Path("var/registry.lock")
    #: A group that may read the reports folder (`[reports] group`); None: owner only.
    reports_group: str | None = None
    #: how reports are e-mailed (`[delivery]`); None: nothing is sent
    delivery: DeliverySettings | None = None
    #: each study file's PIs (`pis` in its `[[studies]]`), who get the study's report
    study_pis: Mapping[Path, tuple[str, ...]] = field(default_factory=dict)
    #: `[reports] csv_separator`: "," (default), ";" (the Excels of comma-decimal
    #: locales) or a tab.
    csv_separator: str = ","

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        known = ", ".join(s.name for s in self.sites) or "none"
        raise SettingsError(f"{self.path}: no site named '{name}' (sites: {known})")
