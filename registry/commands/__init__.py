"""What each `registry` command prints: one function per command, on top of `registry.run`.

`registry.cli` parses the command line and calls these; each one loads the settings
(`load`), starts logging if it writes (`start`), calls a flow of `registry.run` (or
reads the store), prints, and returns the exit code. Expected failures are raised as
`RegistryError` and printed by the CLI as one line.

Log lines go to the log file (`[log] file`, by default `registry.log` beside the run
lock, `var/registry.log`); stderr gets one line per failure, and the log lines as well
only with `--verbose`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from registry.errors import SettingsError
from registry.log import configure_logging
from registry.permissions import owner_only
from registry.settings import Settings, load_settings

__all__ = ["load", "log_file", "start"]


def load(settings_path: Path) -> Settings:
    """The settings, or one line saying how to get a settings file."""
    if not settings_path.exists():
        raise SettingsError(
            f"settings file {settings_path} not found: name yours with --settings PATH, or "
            f"try the tool on the demo sandbox: `registry sandbox --write-settings "
            f"{settings_path}` (or `registry demo`)")
    owner_only()  # the store, log and reports it may write: 0600/0700 whatever the umask
    return load_settings(settings_path)


def log_file(settings: Settings) -> Path:
    """Where a command's log lines go: `[log] file`, else beside the run lock."""
    return settings.log_file or settings.lock_file.with_name("registry.log")


def start(settings_path: Path, *, verbose: bool = False) -> Settings:
    """Load the settings and send the log lines to the log file (and stderr if verbose)."""
    settings = load(settings_path)
    configure_logging(log_file(settings), level=logging.INFO, console=verbose)
    return settings
