"""A study file against the registry's schema: roles resolved, names the project lacks
refused at load with one line naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.analysing import load_study
from registry.errors import AnalysisInputError
from registry.sandbox.dictionary import metadata
from tests import anti_mda5

SCHEMA = anti_mda5.schema(metadata())
TEXT = anti_mda5.STUDY.read_text(encoding="utf-8")


def _study(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_jak_cni_study_fits_its_registry() -> None:
    spec = load_study(anti_mda5.STUDY, SCHEMA)
    assert spec.origin.frame == "patients" and spec.exposure.frame == "treatments"


def test_roles_resolve_to_the_profiles_fields(tmp_path: Path) -> None:
    text = TEXT.replace('origin = { frame = "patients", column = "diagnosis_date" }',
                        'origin = { role = "diagnosis" }\nentry = { role = "entry" }')
    text = text.replace('censor = { frame = "outcomes", column = "last_fu_date" }',
                        'censor = { role = "last_follow_up" }')
    spec = load_study(_study(tmp_path, text), SCHEMA)
    assert (spec.origin.frame, spec.origin.column) == ("patients", "diagnosis_date")
    assert spec.entry is not None and spec.entry.column == "diagnosis_date"
    assert (spec.censor.frame, spec.censor.column) == ("outcomes", "last_fu_date")
    with pytest.raises(AnalysisInputError, match=r"time\.origin: names role 'onset'"):
        load_study(_study(tmp_path, text.replace('"diagnosis" }', '"onset" }')), SCHEMA)
    with pytest.raises(AnalysisInputError, match="names no registry profile"):
        load_study(_study(tmp_path, text), anti_mda5.schema(metadata(), with_profile=False))


@pytest.mark.parametrize(("old", "new", "key"), [
    ('frame = "icu_stays"\nstart = "icu_admit_date"\n\n[[variables]]\nname = "in_icu',
     'frame = "icu"\nstart = "icu_admit_date"\n\n[[variables]]\nname = "in_icu',
     "variables[1].frame: names frame 'icu'"),
    ('start = "trt_start"', 'start = "trt_begin"', "exposure.start: names column 'trt_begin'"),
    ('event_dates = ["death_date", "lung_tx_date"]', 'event_dates = ["death_date", "sex"]',
     "outcome.event_dates[1]: names column 'sex', which is not a field of frame 'outcomes'"),
    ('censor = { frame = "outcomes", column = "last_fu_date" }',
     'censor = { frame = "outcomes", column = "last_fu_date", event = "fu_arm_1" }',
     "time.censor.event: names event 'fu_arm_1'"),
])
def test_names_the_project_lacks_are_refused(tmp_path: Path, old: str, new: str,
                                             key: str) -> None:
    assert old in TEXT
    path = _study(tmp_path, TEXT.replace(old, new))
    with pytest.raises(AnalysisInputError) as err:
        load_study(path, SCHEMA)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and key in message


@pytest.mark.parametrize("name", ["a/b", "../../../../x", "..", "a\\\\b", ""])
def test_a_study_name_that_is_not_a_plain_file_name_is_refused_at_load(tmp_path: Path,
                                                                       name: str) -> None:
    text = TEXT.replace('name = "jak_cni"', f'name = "{name}"', 1)
    assert text != TEXT
    with pytest.raises(AnalysisInputError) as caught:
        load_study(_study(tmp_path, text), SCHEMA)
    assert "study.name" in str(caught.value) and "\n" not in str(caught.value)


def test_an_output_name_from_the_store_never_leaves_the_run_folder(tmp_path: Path) -> None:
    """A store written before names were checked may hold any study name: the outputs
    are refused with one line, and nothing is written outside (or left half-written)."""
    from registry.errors import RegistryError
    from registry.outputs import write_run_outputs
    from registry.reports.payloads import MATCHED_KIND
    from registry.store import Store
    from tests.redcap.pull_support import settings_for

    settings = settings_for(tmp_path / "home", [])
    settings.reports_dir.mkdir(parents=True)
    with Store.open(settings.store.url) as store:
        run_id = store.start_run("analyse")
        store.save_result(run_id, "../../escaped", MATCHED_KIND, "patient_id\nP1\n")
        store.finish_run(run_id, "succeeded", 0)
        with pytest.raises(RegistryError, match="must be a plain file name"):
            write_run_outputs(settings, store, run_id, pdfs=False)
    assert not list(tmp_path.rglob("escaped*"))
    assert list(settings.reports_dir.iterdir()) == []
