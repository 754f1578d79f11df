"""Scenario projects: small REDCap projects kept as folders, the way REDCap clients keep
test projects (see README.md in this folder for the list and what each exercises).

`scenario_path(name)` gives a scenario's folder; the wide one is generated on demand
(`tests/scenarios/wide/generate.py`) and cached under `var/scenarios/`. Serve one with
`SandboxServer.from_folder(scenario_path(name))` or `registry sandbox --project DIR`.
`tests.scenarios.inject.inject_errors` copies one with known errors injected.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCENARIOS", "SCENARIO_DIR", "scenario_path"]

SCENARIO_DIR = Path(__file__).resolve().parent
#: Every scenario, by folder name; `wide` is generated.
SCENARIOS = ("classic", "longitudinal", "repeating", "repeating_event", "dags", "checkboxes",
             "validation", "decimal_comma", "unicode", "text_ids", "wide")


def scenario_path(name: str, *, records: int | None = None) -> Path:
    """The folder of scenario `name`; `records` sizes the generated wide one (default
    1,000, cached under var/scenarios/)."""
    if name not in SCENARIOS:
        raise KeyError(f"no scenario {name!r} (known: {', '.join(SCENARIOS)})")
    if name == "wide":
        from tests.scenarios.wide.generate import wide_folder

        return wide_folder(records=1000 if records is None else records)
    return SCENARIO_DIR / name
