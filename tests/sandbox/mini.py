"""A hand-written registry in `SyntheticRegistry`'s shape: 4 records over 2 DAGs.

Small enough to know every value by heart, built on the real data dictionary, so the
sandbox's REDCap behaviour can be asserted exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry.sandbox.dictionary import FORM_LABELS, REPEATING_FORMS, metadata

__all__ = ["MiniRegistry", "mini_registry"]

DAGS = [
    {"data_access_group_name": "Paris", "unique_group_name": "paris",
     "data_access_group_id": 101},
    {"data_access_group_name": "Lyon", "unique_group_name": "lyon",
     "data_access_group_id": 102},
]


@dataclass
class MiniRegistry:
    metadata: list[dict[str, str]]
    dags: list[dict[str, Any]]
    records: list[dict[str, str]]
    repeating: list[dict[str, str]]
    truth: list[dict[str, str]] = field(default_factory=list)
    project_info: dict[str, Any] | None = None
    params: Any = None
    form_labels: dict[str, str] = field(default_factory=lambda: dict(FORM_LABELS))


def _row(rid: str, dag: str, form: str = "", instance: str = "", **values: str) -> dict:
    return {"record_id": rid, "redcap_repeat_instrument": form,
            "redcap_repeat_instance": instance, "redcap_data_access_group": dag, **values}


def mini_registry() -> MiniRegistry:
    """Records 1, 10 (Paris) and 2, 3 (Lyon); 1 has two treatments and an infection."""
    records = [
        _row("1", "paris", sex="1", birth_date="1970-03-01", diagnosis_date="2019-05-02",
             mda5_titre="150", ild="1", rp_ild="1", skin___1="1", skin___3="1",
             muscle_weakness="0", icu_ever="0", baseline_complete="2",
             last_fu_date="2021-01-10", vital_status="1", lung_tx="0", outcome_complete="2"),
        _row("1", "paris", "treatments", "1", trt_class="1", trt_name="11",
             trt_start="2019-05-10", trt_ongoing="1", treatments_complete="2"),
        _row("1", "paris", "treatments", "2", trt_class="2", trt_name="21",
             trt_start="2019-05-12", trt_ongoing="0", trt_stop="2020-01-01",
             treatments_complete="1"),
        _row("1", "paris", "infections", "1", inf_date="2019-08-01", inf_site="1",
             inf_pathogen="4", inf_documented="1", inf_organism="Pneumocystis jirovecii",
             inf_severity="3", inf_hospitalised="1", infections_complete="2"),
        _row("2", "lyon", sex="2", birth_date="1965-11-20", diagnosis_date="2020-02-14",
             mda5_titre="80", ild="0", muscle_weakness="1", cpk="1200", icu_ever="1",
             baseline_complete="2"),
        _row("2", "lyon", "icu_stay", "1", icu_admit_date="2020-03-01", icu_reason="1",
             icu_mv="1", icu_mv_date="2020-03-02", icu_ecmo="0", icu_stay_complete="2"),
        _row("3", "lyon", sex="1", birth_date="1980-07-07", diagnosis_date="2021-09-09",
             ild="1", rp_ild="0", icu_ever="0", baseline_notes="Referred, notes, \"quoted\"",
             last_fu_date="2022-03-03", vital_status="2", death_date="2022-03-03",
             death_cause="1", outcome_complete="2"),
        _row("10", "paris", sex="2", birth_date="1990-01-01", diagnosis_date="2022-01-01",
             ild="0", icu_ever="0"),
    ]
    return MiniRegistry(metadata=metadata(), dags=[dict(d) for d in DAGS], records=records,
                        repeating=[{"form_name": f, "custom_form_label": ""}
                                   for f in REPEATING_FORMS])
