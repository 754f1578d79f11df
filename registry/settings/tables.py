"""Reading settings.toml's tables: every error names the file and `table.key`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry.errors import SettingsError


class TableReader:
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
                f"{self.path}: {self._name(key)} should be {article(want)} {want}, "
                f"got {type(self.table[key]).__name__} {self.table[key]!r}"
            )
        return value

    def positive(self, key: str, default: float, *, integer: bool = True) -> Any:
        value = self.get(key, int if integer else (int, float), default)
        if value <= 0:
            raise SettingsError(f"{self.path}: {self._name(key)} should be > 0, got {value}")
        return value


def article(word: str) -> str:
    """"a" or "an" before `word`."""
    return "an" if word[:1] in "aeiou" else "a"


def table(path: Path, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The TOML table `[key]` of `data` (empty if absent); not a table is an error."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{path}: [{key}] should be a table")
    return value


def relative(base: Path, value: str) -> Path:
    """A path from the settings file: `~` expanded, relative to its folder `base`."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def sqlite_relative(base: Path, url: str) -> str:
    """Make a relative SQLite path relative to the settings file, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str(base / url[len(prefix):])
    return url
