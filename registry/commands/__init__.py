"""What each `registry` command prints: one function per command, on top of `registry.run`.

`registry.cli` parses the command line and calls these; each one loads the settings,
starts logging, calls a flow of `registry.run` (or reads the store), prints, and
returns the exit code. Expected failures are raised as `RegistryError` and printed by
the CLI as one line.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from registry.log import configure_logging
from registry.settings import Settings, load_settings

__all__ = ["start"]


def start(settings_path: Path) -> Settings:
    """Load the settings and send log lines where a command's belong.

    In a terminal only warnings and errors reach stderr; under a scheduler every line
    does (INFO), and always the log file when settings name one.
    """
    settings = load_settings(settings_path)
    tty = sys.stderr.isatty()
    configure_logging(settings.log_file, level=logging.WARNING if tty else logging.INFO)
    return settings
