"""The one error family of `analyses`.

`analyses` never imports `registry`; the registry side maps `AnalysisError` onto its
own `AnalysisInputError` (exit code and one-line message). Messages say what was
expected, what was found and what to do.
"""

from __future__ import annotations

__all__ = ["AnalysisError", "StudySpecError", "StudyDataError"]


class AnalysisError(Exception):
    """An expected failure of an analysis, with a message a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class StudySpecError(AnalysisError):
    """A study file is malformed: a missing key, a wrong type, an unknown name."""


class StudyDataError(AnalysisError):
    """The frames given to a study cannot give a result (missing column, no exposed...)."""
