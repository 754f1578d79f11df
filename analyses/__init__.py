"""The JAK-CNI study's statistics, and any other risk-set-matched cohort study.

Pure: tidy frames in, frozen results out; no REDCap, files or settings, and never an
import of `registry`. Entry point: `run_study(parse_study(text), frames, excluded, seed)`.
"""

from analyses.balance import BalanceTable, balance_table
from analyses.errors import AnalysisError, StudyDataError, StudySpecError
from analyses.matching import MatchResult, match
from analyses.results import Analysis, Estimate, StudyResult
from analyses.run import censor_at_crossover, run_study
from analyses.study import StudySpec, parse_study, study_from_mapping
from analyses.survival import CoxResult, KMResult, cox, cox_fast, kaplan_meier

__all__ = [
    "Analysis", "AnalysisError", "BalanceTable", "CoxResult", "Estimate", "KMResult",
    "MatchResult", "StudyDataError", "StudyResult", "StudySpec", "StudySpecError",
    "balance_table", "censor_at_crossover", "cox", "cox_fast", "kaplan_meier", "match",
    "parse_study", "run_study", "study_from_mapping",
]
