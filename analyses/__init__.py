"""The JAK-CNI study's statistics, and any other risk-set-matched cohort study.

Pure: tidy frames in, frozen results out; no REDCap, files or settings, and never an
import of `registry`. Entry point: `run_study(parse_study(text), frames, excluded, seed)`.

The names below load their module on first use: `registry report` and `registry
validate` read a study's words (`analyses.study`) without the statistics, whose
SciPy and lifelines imports cost ~2 s of a 2-core machine's CPU.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyses.balance import BalanceTable, balance_table
    from analyses.errors import AnalysisError, StudyDataError, StudySpecError
    from analyses.matching import MatchResult, match
    from analyses.results import Analysis, Estimate, StudyResult
    from analyses.run import censor_at_crossover, run_study
    from analyses.study import StudySpec, parse_study, study_from_mapping
    from analyses.survival import CoxResult, KMResult, cox, cox_fast, kaplan_meier

_MODULES = {
    "analyses.balance": ("BalanceTable", "balance_table"),
    "analyses.errors": ("AnalysisError", "StudyDataError", "StudySpecError"),
    "analyses.matching": ("MatchResult", "match"),
    "analyses.results": ("Analysis", "Estimate", "StudyResult"),
    "analyses.run": ("censor_at_crossover", "run_study"),
    "analyses.study": ("StudySpec", "parse_study", "study_from_mapping"),
    "analyses.survival": ("CoxResult", "KMResult", "cox", "cox_fast", "kaplan_meier"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "Analysis", "AnalysisError", "BalanceTable", "CoxResult", "Estimate", "KMResult",
    "MatchResult", "StudyDataError", "StudyResult", "StudySpec", "StudySpecError",
    "balance_table", "censor_at_crossover", "cox", "cox_fast", "kaplan_meier", "match",
    "parse_study", "run_study", "study_from_mapping",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'analyses' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later reads do not come here
    return value
