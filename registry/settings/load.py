"""settings.toml -> `Settings`: every table read and checked, one line per mistake.

A bad file fails at load with the key and what is wrong with it (`SettingsError`).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from registry.delivery.config import addresses, parse_delivery
from registry.errors import SettingsError
from registry.settings.model import (
    AnalysesSettings,
    PullSettings,
    QualitySettings,
    Settings,
    StoreSettings,
)
from registry.settings.sites import Site, parse_site
from registry.settings.tables import TableReader, relative, sqlite_relative, table


def _reports_group(path: Path, name: str | None) -> str | None:
    """`[reports] group`, checked to exist on this system."""
    from registry.permissions import group_id

    if name is not None and group_id(name) is None:
        raise SettingsError(f"{path}: reports.group {name!r} is not a group on this system")
    return name


def load_settings(path: str | Path = "settings.toml") -> Settings:
    """Read and check settings.toml; raise `SettingsError` naming the key that is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} not found") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"settings file {path} is not UTF-8 text (byte {exc.start}); "
                            "save it as UTF-8") from None
    except OSError as exc:
        raise SettingsError(f"settings file {path} cannot be read: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    base = path.resolve().parent

    top = {"store", "reports", "sites", "pull", "quality", "studies", "log", "run",
           "registry", "analyses", "delivery"}
    TableReader(path, data, "", top)

    def section(key: str, known: set[str]) -> TableReader:
        return TableReader(path, table(path, data, key), key, known)

    registry = section("registry", {"profile"})
    store = section("store", {"url"})
    reports = section("reports", {"dir", "group", "csv_separator"})
    separator = reports.get("csv_separator", str, ",")
    if separator not in (",", ";", "\t"):
        raise SettingsError(f"{path}: reports.csv_separator should be \",\", \";\" or "
                            f"\"\\t\", got {separator!r}")
    pull = section("pull", set(PullSettings.__dataclass_fields__))
    quality = section("quality", {"suites"})
    log = section("log", {"file"})
    run = section("run", {"lock_file"})
    analyses = _analyses(section("analyses", {"draws", "min_draws", "draws_mc_se"}))
    pull_settings = _pull(path, pull)

    store_url = store.get("url", str, StoreSettings().url)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", store_url):
        raise SettingsError(
            f"{path}: store.url {store_url!r} should start with sqlite:/// or postgresql+psycopg://"
        )
    sites = _sites(path, base, data.get("sites"))
    studies, study_pis = _studies(path, base, data.get("studies", []))
    delivery = None
    if "delivery" in data:
        delivery = parse_delivery(path, table(path, data, "delivery"),
                                  lambda t, where, known: TableReader(path, t, where, known))

    log_file = log.get("file", str)
    profile = registry.get("profile", str)
    suites = quality.get("suites", str)
    return Settings(
        path=path,
        store=StoreSettings(url=sqlite_relative(base, store_url)),
        reports_dir=relative(base, reports.get("dir", str, "var/reports")),
        reports_group=_reports_group(path, reports.get("group", str)),
        sites=sites,
        pull=pull_settings,
        quality=QualitySettings(suites=relative(base, suites) if suites else None),
        studies=studies,
        log_file=relative(base, log_file) if log_file else None,
        profile=relative(base, profile) if profile else None,
        analyses=analyses,
        lock_file=relative(base, run.get("lock_file", str, "var/registry.lock")),
        delivery=delivery,
        study_pis=study_pis,
        csv_separator=separator,
    )


def _analyses(an: TableReader) -> AnalysesSettings:
    """`[analyses]`: the draws of the studies' headline."""
    defaults = AnalysesSettings()
    draws = an.get("draws", int)
    return AnalysesSettings(
        draws=None if draws is None else an.positive("draws", 1),
        min_draws=an.positive("min_draws", defaults.min_draws),
        draws_mc_se=an.positive("draws_mc_se", defaults.draws_mc_se, integer=False))


def _pull(path: Path, pull: TableReader) -> PullSettings:
    """`[pull]`: batch sizes, pacing, retries, the full-pull interval."""
    defaults = PullSettings()
    pull_settings = PullSettings(
        batch_size=pull.positive("batch_size", defaults.batch_size),
        min_batch_size=pull.positive("min_batch_size", defaults.min_batch_size),
        requests_per_minute=pull.positive("requests_per_minute", defaults.requests_per_minute),
        timeout_seconds=pull.positive("timeout_seconds", defaults.timeout_seconds, integer=False),
        retries=pull.get("retries", int, defaults.retries),
        backoff_seconds=pull.get("backoff_seconds", (int, float), defaults.backoff_seconds),
        full_pull_every_days=pull.positive("full_pull_every_days", defaults.full_pull_every_days),
        overlap_minutes=pull.get("overlap_minutes", int, defaults.overlap_minutes),
    )
    for name in ("retries", "backoff_seconds", "overlap_minutes"):
        if getattr(pull_settings, name) < 0:
            raise SettingsError(
                f"{path}: pull.{name} should be >= 0, got {getattr(pull_settings, name)}")
    if pull_settings.min_batch_size > pull_settings.batch_size:
        raise SettingsError(f"{path}: pull.min_batch_size should be <= pull.batch_size")
    return pull_settings


def _sites(path: Path, base: Path, raw_sites: Any) -> tuple[Site, ...]:
    """`[[sites]]`: at least one, each checked, no name twice."""
    if not isinstance(raw_sites, list) or not raw_sites:
        raise SettingsError(f"{path}: no [[sites]] given: add at least one site")
    sites = tuple(parse_site(path, base, raw, i) for i, raw in enumerate(raw_sites))
    names = [s.name for s in sites]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SettingsError(f"{path}: site name '{dupes[0]}' is used twice")
    return sites


def _studies(path: Path, base: Path, raw_studies: Any
             ) -> tuple[tuple[Path, ...], dict[Path, tuple[str, ...]]]:
    """`[[studies]]`: each study file's path and its PIs' addresses."""
    if not isinstance(raw_studies, list):
        raise SettingsError(f"{path}: studies should be a list of tables ([[studies]])")
    studies = []
    study_pis: dict[Path, tuple[str, ...]] = {}
    for i, raw in enumerate(raw_studies):
        if not isinstance(raw, dict):
            raise SettingsError(f"{path}: studies[{i}] should be a table ([[studies]])")
        spec = TableReader(path, raw, f"studies[{i}]", {"spec", "pis"}).get("spec", str,
                                                                            required=True)
        studies.append(relative(base, spec))
        study_pis[studies[-1]] = addresses(path, f"studies[{i}].pis", raw.get("pis"))
    return tuple(studies), study_pis
