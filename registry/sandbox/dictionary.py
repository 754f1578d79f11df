"""The data dictionary of the synthetic anti-MDA5 dermatomyositis registry.

Written as REDCap stores it (the 18 metadata columns, all strings), so the sandbox can
serve it as `content=metadata` and every later stage reads field types, validations,
choices, required flags and branching logic from it exactly as from a real project.

Field names here are the contract the tidy tables, the expectation suites and the
study files build on.
"""

from __future__ import annotations

__all__ = [
    "ENTRY_FIELD",
    "FORMS",
    "FORM_LABELS",
    "METADATA_COLUMNS",
    "REPEATING_FORMS",
    "metadata",
]

METADATA_COLUMNS = (
    "field_name", "form_name", "section_header", "field_type", "field_label",
    "select_choices_or_calculations", "field_note", "text_validation_type_or_show_slider_number",
    "text_validation_min", "text_validation_max", "identifier", "branching_logic",
    "required_field", "custom_alignment", "question_number", "matrix_group_name",
    "matrix_ranking", "field_annotation",
)

#: Instruments in project order; the repeating ones are listed in REPEATING_FORMS.
FORMS = ("baseline", "treatments", "icu_stay", "infections", "outcome")
REPEATING_FORMS = ("treatments", "icu_stay", "infections")
#: The instruments' labels, as REDCap keeps them beside the form names (content=instrument).
FORM_LABELS = {"baseline": "Baseline", "treatments": "Treatments", "icu_stay": "ICU stay",
               "infections": "Infections", "outcome": "Outcome"}

YESNO = "1, Yes | 0, No"

# Drug classes and names: the study's exposure is a JAK inhibitor (class 1) taken
# together with a calcineurin inhibitor (class 2).
TRT_CLASS = ("1, JAK inhibitor | 2, Calcineurin inhibitor | 3, Glucocorticoids | 4, IVIG | "
             "5, Cyclophosphamide | 6, Rituximab | 7, Plasma exchange | 8, Mycophenolate | "
             "9, Other")
TRT_NAME = ("11, Tofacitinib | 12, Baricitinib | 13, Ruxolitinib | 14, Upadacitinib | "
            "21, Tacrolimus | 22, Cyclosporine | 31, Methylprednisolone pulses | "
            "32, Prednisone | 41, IVIG | 51, Cyclophosphamide IV | 61, Rituximab | "
            "71, Plasma exchange | 81, Mycophenolate mofetil | 99, Other")

# (field, form, type, label, choices/calc, validation, min, max, required, branching, note)
_FIELDS: tuple[tuple[str, ...], ...] = (
    # --- baseline -------------------------------------------------------------------
    ("record_id", "baseline", "text", "Record ID", "", "", "", "", "", "", ""),
    ("sex", "baseline", "radio", "Sex", "1, Female | 2, Male", "", "", "", "y", "", ""),
    ("birth_date", "baseline", "text", "Date of birth", "", "date_ymd", "1900-01-01", "today",
     "y", "", ""),
    ("diagnosis_date", "baseline", "text", "Date of diagnosis of anti-MDA5 DM", "", "date_ymd",
     "2000-01-01", "today", "y", "", "Day 0 of follow-up"),
    ("age_at_diagnosis", "baseline", "calc", "Age at diagnosis (years)",
     'rounddown(datediff([birth_date], [diagnosis_date], "y"), 0)', "", "", "", "", "", ""),
    ("mda5_titre", "baseline", "text", "Anti-MDA5 antibody titre (U/mL)", "", "integer", "0",
     "500", "y", "", "ELISA, 0-500"),
    ("ferritin", "baseline", "text", "Serum ferritin at diagnosis (ng/mL)", "", "number", "0",
     "50000", "", "", ""),
    ("ild", "baseline", "yesno", "Interstitial lung disease (ILD)", "", "", "", "", "y", "",
     ""),
    ("rp_ild", "baseline", "yesno", "Rapidly progressive ILD (RP-ILD)", "", "", "", "", "y",
     "[ild] = '1'", ""),
    ("hrct_pattern", "baseline", "dropdown", "HRCT pattern",
     "1, NSIP | 2, Organising pneumonia | 3, NSIP + OP | 4, UIP | 5, Diffuse alveolar damage | "
     "9, Other", "", "", "", "", "[ild] = '1'", ""),
    ("skin", "baseline", "checkbox", "Skin involvement",
     "1, Gottron papules | 2, Heliotrope rash | 3, Skin ulcers | 4, Mechanic's hands | "
     "5, Periungual erythema", "", "", "", "", "", "Tick all that apply"),
    ("muscle_weakness", "baseline", "yesno", "Muscle weakness", "", "", "", "", "y", "", ""),
    ("cpk", "baseline", "text", "Peak creatine kinase (IU/L)", "", "integer", "0", "50000", "",
     "[muscle_weakness] = '1'", ""),
    ("icu_ever", "baseline", "yesno", "Ever admitted to an intensive care unit?", "", "", "",
     "", "y", "", "Must agree with the ICU stay forms"),
    ("baseline_notes", "baseline", "notes", "Notes", "", "", "", "", "", "", ""),
    # --- treatments (repeating) -----------------------------------------------------
    ("trt_class", "treatments", "dropdown", "Drug class", TRT_CLASS, "", "", "", "y", "", ""),
    ("trt_name", "treatments", "dropdown", "Drug", TRT_NAME, "", "", "", "y", "", ""),
    ("trt_other", "treatments", "text", "Other drug (name)", "", "", "", "", "y",
     "[trt_name] = '99'", ""),
    ("trt_start", "treatments", "text", "Start date", "", "date_ymd", "2000-01-01", "today",
     "y", "", ""),
    ("trt_ongoing", "treatments", "yesno", "Still taken at last follow-up?", "", "", "", "",
     "y", "", ""),
    ("trt_stop", "treatments", "text", "Stop date", "", "date_ymd", "2000-01-01", "today",
     "y", "[trt_ongoing] = '0'", ""),
    # --- icu_stay (repeating) -------------------------------------------------------
    ("icu_admit_date", "icu_stay", "text", "ICU admission date", "", "date_ymd", "2000-01-01",
     "today", "y", "", ""),
    ("icu_discharge_date", "icu_stay", "text", "ICU discharge date", "", "date_ymd",
     "2000-01-01", "today", "", "", "Empty if died in ICU or still there"),
    ("icu_reason", "icu_stay", "radio", "Main reason for admission",
     "1, Respiratory failure | 2, Infection / sepsis | 3, Other", "", "", "", "y", "", ""),
    ("icu_mv", "icu_stay", "yesno", "Invasive mechanical ventilation", "", "", "", "", "y", "",
     ""),
    ("icu_mv_date", "icu_stay", "text", "Start of invasive ventilation", "", "date_ymd",
     "2000-01-01", "today", "y", "[icu_mv] = '1'", "Within the ICU stay"),
    ("icu_ecmo", "icu_stay", "yesno", "ECMO", "", "", "", "", "y", "", ""),
    ("icu_ecmo_date", "icu_stay", "text", "Start of ECMO", "", "date_ymd", "2000-01-01",
     "today", "y", "[icu_ecmo] = '1'", "Within the ICU stay"),
    # --- infections (repeating) -----------------------------------------------------
    ("inf_date", "infections", "text", "Date of infection", "", "date_ymd", "2000-01-01",
     "today", "y", "", ""),
    ("inf_site", "infections", "dropdown", "Site of infection",
     "1, Lung | 2, Bloodstream | 3, Urinary tract | 4, Skin / soft tissue | 5, Digestive | "
     "6, Central nervous system | 9, Other", "", "", "", "y", "", ""),
    ("inf_pathogen", "infections", "radio", "Pathogen type",
     "1, Bacterial | 2, Viral | 3, Fungal | 4, Pneumocystis | 5, Mycobacterial | 9, Unknown",
     "", "", "", "y", "", ""),
    ("inf_documented", "infections", "radio", "Microbiologically documented or suspected",
     "1, Documented | 2, Suspected", "", "", "", "y", "", ""),
    ("inf_organism", "infections", "text", "Organism", "", "", "", "", "",
     "[inf_documented] = '1'", "e.g. Pneumocystis jirovecii"),
    ("inf_severity", "infections", "radio", "Severity",
     "1, Mild | 2, Moderate | 3, Severe | 4, Life-threatening", "", "", "", "y", "", ""),
    ("inf_hospitalised", "infections", "yesno", "Hospitalised for this infection", "", "", "",
     "", "y", "", "Severe and life-threatening infections are hospitalised"),
    # --- outcome --------------------------------------------------------------------
    ("last_fu_date", "outcome", "text", "Date of last follow-up", "", "date_ymd", "2000-01-01",
     "today", "y", "", ""),
    ("vital_status", "outcome", "radio", "Vital status at last follow-up",
     "1, Alive | 2, Dead", "", "", "", "y", "", ""),
    ("death_date", "outcome", "text", "Date of death", "", "date_ymd", "2000-01-01", "today",
     "y", "[vital_status] = '2'", ""),
    ("death_cause", "outcome", "dropdown", "Main cause of death",
     "1, Respiratory failure (ILD) | 2, Infection | 3, Other", "", "", "", "",
     "[vital_status] = '2'", ""),
    ("lung_tx", "outcome", "yesno", "Lung transplant", "", "", "", "", "y", "", ""),
    ("lung_tx_date", "outcome", "text", "Date of lung transplant", "", "date_ymd",
     "2000-01-01", "today", "y", "[lung_tx] = '1'", ""),
    ("fu_days", "outcome", "calc", "Follow-up from diagnosis (days)",
     'datediff([diagnosis_date], [last_fu_date], "d")', "", "", "", "", "", ""),
)


#: The registry-entry date, in the dictionary only when the generator simulates delayed
#: entry (`GeneratorParams.delayed_entry`), so the default registry stays as it was.
ENTRY_FIELD = ("registry_entry_date", "baseline", "text", "Date of entry into the registry",
               "", "date_ymd", "2000-01-01", "today", "", "",
               "Patients are followed in studies from this date (delayed entry)")


def metadata(*, delayed_entry: bool = False) -> list[dict[str, str]]:
    """The data dictionary as REDCap exports it: one dict of 18 strings per field
    (with the registry-entry date after the diagnosis date when `delayed_entry`)."""
    fields = list(_FIELDS)
    if delayed_entry:
        at = [f[0] for f in fields].index("diagnosis_date") + 1
        fields.insert(at, ENTRY_FIELD)
    rows = []
    for (name, form, ftype, label, choices, validation, vmin, vmax, required, branching,
         note) in fields:
        row = dict.fromkeys(METADATA_COLUMNS, "")
        row.update(
            field_name=name, form_name=form, field_type=ftype, field_label=label,
            select_choices_or_calculations=choices, field_note=note,
            text_validation_type_or_show_slider_number=validation,
            text_validation_min=vmin, text_validation_max=vmax,
            required_field=required, branching_logic=branching,
        )
        if name == "birth_date":
            row["identifier"] = "y"
        rows.append(row)
    return rows
