"""The errors the tool expects and turns into one line for a person.

Every expected failure (bad settings, REDCap refusing or unreachable, a malformed
suite or study, unusable analysis input) is a `RegistryError`. The CLI prints its
message on one line and exits with its `exit_code`; anything else is a bug and keeps
its traceback. Messages say what was expected, what was found and what to do; they
carry record ids and counts, never tokens (every message is redacted, `registry.log`).
"""

from __future__ import annotations

from registry.log import redact

__all__ = [
    "AnalysisInputError",
    "RedcapBanned",
    "RedcapDown",
    "RedcapRefused",
    "RedcapUnreachable",
    "RegistryError",
    "RunLocked",
    "SettingsError",
    "StoreError",
    "SuiteDefinitionError",
    "UsageError",
]


class RegistryError(Exception):
    """An expected failure with a message a person can act on."""

    exit_code: int = 3

    def __init__(self, message: str) -> None:
        message = redact(message)  # no token reaches stderr, the store or a report
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SettingsError(RegistryError):
    """settings.toml (or a token it names) is missing, malformed or inconsistent."""

    exit_code = 2


class UsageError(RegistryError):
    """The command line asks for something that does not exist or cannot be done
    (an unknown site or status, a run that has no outputs)."""

    exit_code = 2


class RedcapRefused(RegistryError):
    """REDCap answered but refused the request (wrong token, no rights, bad parameter)."""


class RedcapBanned(RedcapRefused):
    """REDCap answered 429: the address is banned; retrying would not help."""


class RedcapUnreachable(RegistryError):
    """REDCap could not be reached or kept failing past the retry budget."""


class RedcapDown(RedcapUnreachable):
    """Nothing answers at the site's host (connection refused, host not found); the
    other sites on that host are not tried again in the same run."""


class StoreError(RegistryError):
    """The registry store cannot be opened, migrated or written."""


class SuiteDefinitionError(RegistryError):
    """An expectation suite is malformed or names an unknown expectation type."""

    exit_code = 2


class AnalysisInputError(RegistryError):
    """A study file or the data given to an analysis cannot give a result."""


class RunLocked(RegistryError):
    """Another nightly run holds the lock."""
