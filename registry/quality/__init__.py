"""The quality stage: expectation suites as data, run through Great Expectations.

`validate(frames, metadata, suites, site_links=...)` checks one snapshot's tidy frames
and returns a `QualityResult`: `.failures` (one row per failing cell: site, record,
form, instance, field, rule, severity, message, link) and `.rule_results` (per site
and rule: checked, failed, percent, status). `age_flags` gives the flags their
lifecycle across snapshots; `blocking_patients` gates the analyses.

Great Expectations is imported only when rules run (see `gx_adapter`).
"""

from __future__ import annotations

from registry.quality.flags import SiteLink, blocking_patients, form_link
from registry.quality.lifecycle import FLAG_KEY, age_flags
from registry.quality.runner import QualityResult, validate
from registry.quality.suites import (
    KNOWN_TYPES,
    Rule,
    Suite,
    dump_suite,
    load_suite,
    load_suites,
    parse_suite,
)

__all__ = [
    "FLAG_KEY",
    "KNOWN_TYPES",
    "QualityResult",
    "Rule",
    "SiteLink",
    "Suite",
    "age_flags",
    "blocking_patients",
    "dump_suite",
    "form_link",
    "load_suite",
    "load_suites",
    "parse_suite",
    "validate",
]
