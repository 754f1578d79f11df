"""settings.toml -> typed, validated settings.

A bad file fails at load with the key and what is wrong with it. API tokens are never
in the file: a site names an environment variable (`token_env`) and/or an owner-only
file (`token_file`, optionally with `token_key` to pick one line of a `KEY=value`
file). A token is read only when a site is pulled, is wrapped in `Secret` so it never
shows in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.delivery.config import DeliverySettings, addresses, parse_delivery
from registry.errors import SettingsError
from registry.log import looks_like_token

__all__ = [
    "PullSettings",
    "QualitySettings",
    "Secret",
    "Settings",
    "Site",
    "StoreSettings",
    "load_settings",
]

_SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_TOKEN = re.compile(r"^[0-9A-Fa-f]{32}$")


class Secret:
    """A string that does not show itself: repr, str and format all give `***`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Site:
    """One site: a REDCap project, or one data access group (DAG) of a shared project.

    `dag` None: every record the token sees; a unique group name: that DAG's records;
    `""`: the records in no DAG (read with a project-wide token)."""

    name: str
    url: str
    token_env: str | None = None
    token_file: Path | None = None
    token_key: str | None = None
    dag: str | None = None
    label: str | None = None
    #: who gets this site's report and flags by e-mail (`registry send`)
    coordinators: tuple[str, ...] = ()
    #: keep this site's flags in step with its REDCap Data Resolution Workflow (the
    #: Data Quality API module must be enabled on the project; docs/drw.md)
    drw_sync: bool = False
    #: the REDCap username the sync's resolutions are stored under (None: no user)
    drw_username: str | None = None

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def redcap_base(self) -> str:
        """The REDCap web root (the API URL without its trailing `api/`)."""
        base = self.url.rstrip("/")
        return base[: -len("/api")] + "/" if base.endswith("/api") else base + "/"

    def token(self) -> Secret:
        """Read this site's API token from its environment variable or owner-only file."""
        if self.token_env and os.environ.get(self.token_env):
            value = os.environ[self.token_env].strip()
            where = f"environment variable {self.token_env}"
        elif self.token_file is not None:
            value = _read_token_file(self.token_file, self.token_key or self.token_env)
            where = f"token file {self.token_file}"
        elif self.token_env:
            raise SettingsError(
                f"site '{self.name}': environment variable {self.token_env} is not set "
                "(it should hold the site's REDCap API token)"
            )
        else:  # load_settings guarantees one source; kept for direct construction
            raise SettingsError(f"site '{self.name}': no token_env or token_file given")
        if not _TOKEN.match(value):
            raise SettingsError(
                f"site '{self.name}': the token in {where} is not 32 hexadecimal characters "
                f"(got {len(value)} characters)"
            )
        return Secret(value)


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
    its budget (benchmarks/RESULTS.md); there is no bootstrap (the CI is analytic).
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


def _read_token_file(path: Path, key: str | None) -> str:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SettingsError(f"token file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"token file {path} cannot be read: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(
            f"token file {path} can be read by others (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise SettingsError(f"token file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise SettingsError(f"token file {path} cannot be read: {exc.strerror}") from exc
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    pairs = dict(ln.split("=", 1) for ln in lines if "=" in ln)
    if pairs:
        pairs = {k.strip(): v.strip().strip('"').strip("'") for k, v in pairs.items()}
        if not key:
            raise SettingsError(f"token file {path} holds several tokens: name one with token_key")
        if key not in pairs:
            raise SettingsError(f"token file {path} has no entry named {key}")
        return pairs[key]
    if len(lines) != 1:
        raise SettingsError(f"token file {path} should hold exactly one token line")
    return lines[0]


class _Reader:
    """Reads keys from one TOML table, naming `table.key` in every error."""

    def __init__(self, path: Path, table: Mapping[str, Any], where: str, known: set[str]):
        self.path, self.table, self.where = path, table, where
        unknown = sorted(set(table) - known)
        if unknown:
            raise SettingsError(
                f"{path}: unknown key {self._name(unknown[0])} (known: {', '.join(sorted(known))})"
            )

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, *,
            required: bool = False) -> Any:
        if key not in self.table:
            if required:
                raise SettingsError(f"{self.path}: {self._name(key)} is missing")
            return default
        value = self.table[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            value = None  # TOML true/false is never a number or a string here
        if value is None or not isinstance(value, kind):
            want = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise SettingsError(
                f"{self.path}: {self._name(key)} should be {_article(want)} {want}, "
                f"got {type(self.table[key]).__name__} {self.table[key]!r}"
            )
        return value

    def positive(self, key: str, default: float, *, integer: bool = True) -> Any:
        value = self.get(key, int if integer else (int, float), default)
        if value <= 0:
            raise SettingsError(f"{self.path}: {self._name(key)} should be > 0, got {value}")
        return value


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _table(path: Path, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{path}: [{key}] should be a table")
    return value


def _relative(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _sqlite_relative(base: Path, url: str) -> str:
    """Make a relative SQLite path relative to the settings file, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str(base / url[len(prefix):])
    return url


def _site(path: Path, base: Path, raw: Any, index: int) -> Site:
    where = f"sites[{index}]"
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: {where} should be a table ([[sites]])")
    r = _Reader(path, raw, where,
                {"name", "url", "token_env", "token_file", "token_key", "dag", "label", "token",
                 "coordinators", "drw_sync", "drw_username"})
    if "token" in raw:
        raise SettingsError(
            f"{path}: {where}.token is not allowed: tokens never live in settings.toml; "
            "name an environment variable with token_env or an owner-only file with token_file"
        )
    name = r.get("name", str, required=True)
    if not _SITE_NAME.match(name):
        raise SettingsError(
            f"{path}: {where}.name {name!r} should be lower-case letters, digits, '-' or '_'"
        )
    url = r.get("url", str, required=True)
    if not re.match(r"^https?://", url) or not url.rstrip("/").endswith("/api"):
        raise SettingsError(
            f"{path}: {where}.url {url!r} should be a REDCap API URL ending in /api/"
        )
    if not url.endswith("/"):
        url += "/"
    token_env = r.get("token_env", str)
    token_file = r.get("token_file", str)
    token_key = r.get("token_key", str)
    for key, value in (("token_env", token_env), ("token_file", token_file),
                       ("token_key", token_key)):
        if value and looks_like_token(value):
            raise SettingsError(
                f"{path}: {where}.{key} holds what looks like an API token itself (not shown); "
                "tokens never live in settings.toml: put it in an environment variable or an "
                f"owner-only file and give {key} that name, then ask REDCap for a new token"
            )
    if not token_env and not token_file:
        raise SettingsError(f"{path}: {where} needs token_env or token_file for its API token")
    if token_env and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", token_env):
        raise SettingsError(f"{path}: {where}.token_env {token_env!r} is not a variable name")
    return Site(
        name=name,
        url=url,
        token_env=token_env,
        token_file=_relative(base, token_file) if token_file else None,
        token_key=token_key,
        dag=r.get("dag", str),
        label=r.get("label", str),
        coordinators=addresses(path, f"{where}.coordinators", raw.get("coordinators")),
        drw_sync=r.get("drw_sync", bool, False),
        drw_username=r.get("drw_username", str),
    )


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

    _Reader(path, data, "", {"store", "reports", "sites", "pull", "quality", "studies", "log",
                             "run", "registry", "analyses", "delivery"})
    registry = _Reader(path, _table(path, data, "registry"), "registry", {"profile"})
    store = _Reader(path, _table(path, data, "store"), "store", {"url"})
    reports = _Reader(path, _table(path, data, "reports"), "reports",
                      {"dir", "group", "csv_separator"})
    separator = reports.get("csv_separator", str, ",")
    if separator not in (",", ";", "\t"):
        raise SettingsError(f"{path}: reports.csv_separator should be \",\", \";\" or "
                            f"\"\\t\", got {separator!r}")
    pull = _Reader(path, _table(path, data, "pull"), "pull", set(PullSettings.__dataclass_fields__))
    quality = _Reader(path, _table(path, data, "quality"), "quality", {"suites"})
    log = _Reader(path, _table(path, data, "log"), "log", {"file"})
    run = _Reader(path, _table(path, data, "run"), "run", {"lock_file"})
    an = _Reader(path, _table(path, data, "analyses"), "analyses",
                 {"draws", "min_draws", "draws_mc_se"})
    an_defaults = AnalysesSettings()
    draws = an.get("draws", int)
    analyses = AnalysesSettings(
        draws=None if draws is None else an.positive("draws", 1),
        min_draws=an.positive("min_draws", an_defaults.min_draws),
        draws_mc_se=an.positive("draws_mc_se", an_defaults.draws_mc_se, integer=False))

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

    store_url = store.get("url", str, StoreSettings().url)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", store_url):
        raise SettingsError(
            f"{path}: store.url {store_url!r} should start with sqlite:/// or postgresql+psycopg://"
        )
    raw_sites = data.get("sites")
    if not isinstance(raw_sites, list) or not raw_sites:
        raise SettingsError(f"{path}: no [[sites]] given: add at least one site")
    sites = tuple(_site(path, base, raw, i) for i, raw in enumerate(raw_sites))
    names = [s.name for s in sites]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SettingsError(f"{path}: site name '{dupes[0]}' is used twice")

    raw_studies = data.get("studies", [])
    if not isinstance(raw_studies, list):
        raise SettingsError(f"{path}: studies should be a list of tables ([[studies]])")
    studies = []
    study_pis: dict[Path, tuple[str, ...]] = {}
    for i, raw in enumerate(raw_studies):
        if not isinstance(raw, dict):
            raise SettingsError(f"{path}: studies[{i}] should be a table ([[studies]])")
        spec = _Reader(path, raw, f"studies[{i}]", {"spec", "pis"}).get("spec", str,
                                                                        required=True)
        studies.append(_relative(base, spec))
        study_pis[studies[-1]] = addresses(path, f"studies[{i}].pis", raw.get("pis"))
    delivery = None
    if "delivery" in data:
        delivery = parse_delivery(path, _table(path, data, "delivery"),
                                  lambda t, where, known: _Reader(path, t, where, known))

    log_file = log.get("file", str)
    profile = registry.get("profile", str)
    suites = quality.get("suites", str)
    return Settings(
        path=path,
        store=StoreSettings(url=_sqlite_relative(base, store_url)),
        reports_dir=_relative(base, reports.get("dir", str, "var/reports")),
        reports_group=_reports_group(path, reports.get("group", str)),
        sites=sites,
        pull=pull_settings,
        quality=QualitySettings(suites=_relative(base, suites) if suites else None),
        studies=tuple(studies),
        log_file=_relative(base, log_file) if log_file else None,
        profile=_relative(base, profile) if profile else None,
        analyses=analyses,
        lock_file=_relative(base, run.get("lock_file", str, "var/registry.lock")),
        delivery=delivery,
        study_pis=study_pis,
        csv_separator=separator,
    )
