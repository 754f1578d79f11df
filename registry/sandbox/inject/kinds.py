"""One injector per error kind: (context, row) -> injected?, and the fields each kind
may name in the truth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from registry.sandbox.inject.context import (
    DAYS_PER_YEAR,
    EXPOSURE_CLASSES,
    Context,
    Row,
    TruthRow,
    age_years,
    as_date,
    data_end,
)

__all__ = ["INJECTORS", "KIND_FIELDS"]


# --- one function per kind: (ctx, row) -> injected? -------------------------------------

def _icu_discharge_before_admission(ctx: Context, r: Row) -> bool:
    admit, dis = as_date(r["icu_admit_date"]), as_date(r["icu_discharge_date"])
    dx = as_date(ctx.base[r["record_id"]]["diagnosis_date"])
    if not (admit and dis and dx) or r["icu_mv"] != "0" or r["icu_ecmo"] != "0":
        return False
    gap = (admit - dx).days
    if gap < 1:
        return False
    new = admit - timedelta(days=ctx.int_(1, min(30, gap)))
    b = ctx.base[r["record_id"]]
    return ctx.commit("icu_discharge_before_admission",
                      [(r, "icu_discharge_date", new.isoformat())],
                      [(r, "icu_admit_date"), (b, "diagnosis_date")])


def _other_treatment(r: Row) -> bool:
    return r["redcap_repeat_instrument"] == "treatments" and r["trt_class"] not in (
        EXPOSURE_CLASSES) and r["trt_class"] != ""


def _treatment_before_diagnosis(ctx: Context, r: Row) -> bool:
    b = ctx.base[r["record_id"]]
    dx = as_date(b["diagnosis_date"])
    if not (_other_treatment(r) and dx and as_date(r["trt_start"])):
        return False
    new = dx - timedelta(days=ctx.int_(1, 90))
    return ctx.commit("treatment_before_diagnosis", [(r, "trt_start", new.isoformat())],
                      [(b, "diagnosis_date"), (r, "trt_stop")])


def _treatment_stop_before_start(ctx: Context, r: Row) -> bool:
    b = ctx.base[r["record_id"]]
    dx, start = as_date(b["diagnosis_date"]), as_date(r["trt_start"])
    if not (_other_treatment(r) and dx and start and r["trt_ongoing"] == "0"
            and as_date(r["trt_stop"])) or (start - dx).days < 1:
        return False
    new = start - timedelta(days=ctx.int_(1, min(60, (start - dx).days)))
    return ctx.commit("treatment_stop_before_start", [(r, "trt_stop", new.isoformat())],
                      [(r, "trt_start"), (r, "trt_ongoing"), (b, "diagnosis_date")])


def _infection_after_death(ctx: Context, r: Row) -> bool:
    b = ctx.base[r["record_id"]]
    death = as_date(b["death_date"])
    if b["vital_status"] != "2" or not death or not as_date(r["inf_date"]):
        return False
    room = (ctx.as_of - death).days
    if room < 1:
        return False
    new = death + timedelta(days=ctx.int_(1, min(90, room)))
    return ctx.commit("infection_after_death", [(r, "inf_date", new.isoformat())],
                      [(b, "death_date"), (b, "vital_status"), (b, "last_fu_date")])


def _date_field(r: Row, with_start: bool) -> str | None:
    """A date cell of `r` nothing else is defined against, or None."""
    form = r["redcap_repeat_instrument"]
    if form == "infections":
        return "inf_date" if r["inf_date"] else None
    if _other_treatment(r):
        options = (["trt_start"] if with_start else []) + (
            ["trt_stop"] if r["trt_ongoing"] == "0" and r["trt_stop"] else [])
        return options[len(r["trt_start"]) % len(options)] if options else None
    return None


def _future_date(ctx: Context, r: Row) -> bool:
    name = _date_field(r, with_start=False)
    true = as_date(r[name]) if name else None
    if not (name and true):
        return False
    y = str(true.year)
    year = int(y[:2] + y[3] + y[2])  # 2025 typed 2052
    if year <= ctx.as_of.year + 1:
        year = true.year + 30 + ctx.int_(0, 9)
    new = true.replace(year=year, day=min(true.day, 28) if true.month == 2 else true.day)
    return ctx.commit("future_date", [(r, name, new.isoformat())])


def _impossible_date(ctx: Context, r: Row) -> bool:
    name = _date_field(r, with_start=True)
    true = as_date(r[name]) if name else None
    if not (name and true) or true.month not in (2, 4, 6, 9, 11):
        return False
    value = f"{true.year}-{true.month:02d}-{30 if true.month == 2 else 31}"
    return ctx.commit("impossible_date", [(r, name, value)])


def _implausible_age(ctx: Context, b: Row) -> bool:
    dx = as_date(b["diagnosis_date"])
    if not dx:
        return False
    age = int(ctx.rng.choice([2, 3, 4, 106, 107, 108, 109]))
    birth = dx - timedelta(days=round(age * DAYS_PER_YEAR) + ctx.int_(0, 200))
    real = age_years(birth, dx)
    if birth < date(1900, 1, 1) or 5 <= real <= 105:
        return False
    return ctx.commit("implausible_age", [(b, "birth_date", birth.isoformat()),
                                          (b, "age_at_diagnosis", str(real))],
                      [(b, "diagnosis_date")])


def _icu_ever_no_with_stay(ctx: Context, b: Row) -> bool:
    stays = ctx.repeat.get((b["record_id"], "icu_stay"), [])
    if b["icu_ever"] != "1" or not stays:
        return False
    return ctx.commit("icu_ever_no_with_stay", [(b, "icu_ever", "0")],
                      [(s, "icu_admit_date") for s in stays])


def _ventilation_outside_icu(ctx: Context, r: Row) -> bool:
    b = ctx.base[r["record_id"]]
    admit, dis, dx = as_date(r["icu_admit_date"]), as_date(r["icu_discharge_date"]), as_date(
        b["diagnosis_date"])
    if r["icu_mv"] != "1" or r["icu_ecmo"] != "0" or not (admit and dx and r["icu_mv_date"]):
        return False
    if (admit - dx).days >= 1:
        new = admit - timedelta(days=ctx.int_(1, min(10, (admit - dx).days)))
    elif dis and (room := (min(data_end(ctx, r["record_id"]), ctx.as_of) - dis).days) >= 1:
        new = dis + timedelta(days=ctx.int_(1, min(10, room)))
    else:
        return False
    return ctx.commit("ventilation_outside_icu", [(r, "icu_mv_date", new.isoformat())],
                      [(r, "icu_admit_date"), (r, "icu_discharge_date"), (r, "icu_mv"),
                       (b, "diagnosis_date"), (b, "last_fu_date"), (b, "death_date")])


def _infection_missing_date(ctx: Context, r: Row) -> bool:
    if not r["inf_date"]:
        return False
    return ctx.commit("infection_missing_date", [(r, "inf_date", "")])


# (form, field, condition on the row, controller fields referenced)
_Spec = tuple[str, str, Callable[[Row, Row], bool], tuple[str, ...]]

_UNKNOWN_CODE: tuple[_Spec, ...] = (
    ("", "sex", lambda r, b: bool(r["sex"]), ()),
    ("", "hrct_pattern", lambda r, b: bool(r["hrct_pattern"]), ()),
    ("", "death_cause", lambda r, b: bool(r["death_cause"]), ()),
    ("icu_stay", "icu_reason", lambda r, b: bool(r["icu_reason"]), ()),
    ("infections", "inf_site", lambda r, b: bool(r["inf_site"]), ()),
    ("infections", "inf_pathogen", lambda r, b: bool(r["inf_pathogen"]), ()),
)
_MISSING_REQUIRED: tuple[_Spec, ...] = (
    ("", "sex", lambda r, b: bool(r["sex"]), ()),
    ("", "mda5_titre", lambda r, b: bool(r["mda5_titre"]), ()),
    ("icu_stay", "icu_reason", lambda r, b: bool(r["icu_reason"]), ()),
    ("infections", "inf_site", lambda r, b: bool(r["inf_site"]), ()),
    ("infections", "inf_pathogen", lambda r, b: bool(r["inf_pathogen"]), ()),
    ("infections", "inf_severity", lambda r, b: bool(r["inf_severity"]), ()),
    ("treatments", "trt_class", lambda r, b: _other_treatment(r), ()),
    ("treatments", "trt_name", lambda r, b: _other_treatment(r) and r["trt_name"] != "99",
     ()),
)
_SHOWN_EMPTY: tuple[_Spec, ...] = (
    ("", "rp_ild", lambda r, b: r["ild"] == "1" and bool(r["rp_ild"]), ("ild",)),
    ("", "death_date", lambda r, b: r["vital_status"] == "2" and bool(r["death_date"]),
     ("vital_status",)),
    ("", "lung_tx_date", lambda r, b: r["lung_tx"] == "1" and bool(r["lung_tx_date"]),
     ("lung_tx",)),
    ("treatments", "trt_stop",
     lambda r, b: _other_treatment(r) and r["trt_ongoing"] == "0" and bool(r["trt_stop"]),
     ("trt_ongoing",)),
    ("treatments", "trt_other", lambda r, b: r["trt_name"] == "99" and bool(r["trt_other"]),
     ("trt_name",)),
    ("icu_stay", "icu_mv_date", lambda r, b: r["icu_mv"] == "1" and bool(r["icu_mv_date"]),
     ("icu_mv",)),
    ("icu_stay", "icu_ecmo_date",
     lambda r, b: r["icu_ecmo"] == "1" and bool(r["icu_ecmo_date"]), ("icu_ecmo",)),
)
_HIDDEN_FILLED: tuple[_Spec, ...] = (
    ("", "cpk", lambda r, b: r["muscle_weakness"] == "0" and not r["cpk"],
     ("muscle_weakness",)),
    ("", "death_cause", lambda r, b: r["vital_status"] == "1" and not r["death_cause"],
     ("vital_status",)),
    ("", "hrct_pattern", lambda r, b: r["ild"] == "0" and not r["hrct_pattern"], ("ild",)),
    ("", "rp_ild", lambda r, b: r["ild"] == "0" and not r["rp_ild"], ("ild",)),
    ("treatments", "trt_stop",
     lambda r, b: _other_treatment(r) and r["trt_ongoing"] == "1" and not r["trt_stop"],
     ("trt_ongoing", "trt_start")),
    ("treatments", "trt_other",
     lambda r, b: _other_treatment(r) and r["trt_name"] != "99" and not r["trt_other"],
     ("trt_name",)),
    ("icu_stay", "icu_mv_date", lambda r, b: r["icu_mv"] == "0" and not r["icu_mv_date"],
     ("icu_mv", "icu_admit_date", "icu_discharge_date")),
    ("icu_stay", "icu_ecmo_date",
     lambda r, b: r["icu_ecmo"] == "0" and not r["icu_ecmo_date"],
     ("icu_ecmo", "icu_admit_date", "icu_discharge_date")),
    ("infections", "inf_organism",
     lambda r, b: r["inf_documented"] == "2" and not r["inf_organism"],
     ("inf_documented",)),
)
_OUT_OF_RANGE: tuple[_Spec, ...] = (
    ("", "mda5_titre", lambda r, b: True, ()),
    ("", "ferritin", lambda r, b: True, ()),
    ("", "cpk", lambda r, b: r["muscle_weakness"] == "1", ("muscle_weakness",)),
)


#: The fields each kind may name in the truth ("" = a whole duplicated instance).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "icu_discharge_before_admission": ("icu_discharge_date",),
    "treatment_before_diagnosis": ("trt_start",),
    "treatment_stop_before_start": ("trt_stop",),
    "infection_after_death": ("inf_date",),
    "future_date": ("trt_stop", "inf_date"),
    "impossible_date": ("trt_start", "trt_stop", "inf_date"),
    "implausible_age": ("birth_date", "age_at_diagnosis"),
    "icu_ever_no_with_stay": ("icu_ever",),
    "ventilation_outside_icu": ("icu_mv_date",),
    "infection_missing_date": ("inf_date",),
    "unknown_code": tuple(s[1] for s in _UNKNOWN_CODE),
    "missing_required": tuple(s[1] for s in _MISSING_REQUIRED),
    "branching_shown_empty": tuple(s[1] for s in _SHOWN_EMPTY),
    "branching_hidden_filled": tuple(s[1] for s in _HIDDEN_FILLED),
    "out_of_range": tuple(s[1] for s in _OUT_OF_RANGE),
    "duplicate_instance": ("",),
    "severity_not_hospitalised": ("inf_hospitalised",),
}


def _by_spec(specs: tuple[_Spec, ...], kind: str,
             value: Callable[[Context, Row, str], str | None]) -> Callable[[Context, Row], bool]:
    def inject(ctx: Context, r: Row) -> bool:
        b = ctx.base[r["record_id"]]
        fits = [s for s in specs if s[0] == r["redcap_repeat_instrument"] and s[2](r, b)]
        if not fits:
            return False
        _, name, _, controllers = fits[ctx.int_(0, len(fits) - 1)]
        new = value(ctx, r, name)
        if new is None:
            return False
        refs = [(r, c) for c in controllers] + [(b, "diagnosis_date"), (b, "last_fu_date")]
        return ctx.commit(kind, [(r, name, new)], refs)

    return inject


_CHOICE_CODES = {"sex": "12", "hrct_pattern": "123459", "death_cause": "123",
                 "icu_reason": "123", "inf_site": "1234569", "inf_pathogen": "123459"}


def _unknown_value(ctx: Context, r: Row, name: str) -> str:
    if name == "inf_site":
        return "8"
    free = [c for c in "3456789" if c not in _CHOICE_CODES[name]]
    return free[ctx.int_(0, len(free) - 1)]


def _hidden_value(ctx: Context, r: Row, name: str) -> str | None:
    if name == "cpk":
        return str(ctx.int_(80, 3000))
    if name in ("death_cause", "hrct_pattern"):
        return "1"
    if name == "rp_ild":
        return "0"
    if name == "trt_other":
        return "Hydroxychloroquine"
    if name == "inf_organism":
        return "Klebsiella pneumoniae"
    if name == "trt_stop":
        lo, hi = as_date(r["trt_start"]), data_end(ctx, r["record_id"])
    else:
        lo = as_date(r["icu_admit_date"])
        hi = as_date(r["icu_discharge_date"]) or data_end(ctx, r["record_id"])
    if not lo or hi < lo:
        return None
    return (lo + timedelta(days=ctx.int_(0, (hi - lo).days))).isoformat()


def _range_value(ctx: Context, r: Row, name: str) -> str:
    lo = {"mda5_titre": 501, "ferritin": 50001, "cpk": 50001}[name]
    return str(ctx.int_(lo, 3 * lo))


def _duplicate_instance(ctx: Context, r: Row) -> bool:
    form = r["redcap_repeat_instrument"]
    if form not in ("treatments", "infections") or (
            form == "treatments" and not _other_treatment(r)):
        return False
    names = [k for k, f in ctx.form_of.items() if f == form] + [f"{form}_complete"]
    src = [ctx.cell(r, n) for n in names]
    if any(c in ctx.changed for c in src):
        return False
    rid = r["record_id"]
    last = max(int(x["redcap_repeat_instance"]) for x in ctx.repeat[(rid, form)])
    new = dict(r, redcap_repeat_instance=str(last + 1))
    ctx.rows.append(new)
    ctx.repeat[(rid, form)].append(new)
    cells = [ctx.cell(new, n) for n in names]
    ctx.changed.update(cells)
    ctx.used.update(cells + src)
    ctx.truth.append(TruthRow(rid, form, str(last + 1), "", "duplicate_instance"))
    return True


def _severity_not_hospitalised(ctx: Context, r: Row) -> bool:
    if r["inf_severity"] not in ("3", "4") or r["inf_hospitalised"] != "1":
        return False
    return ctx.commit("severity_not_hospitalised", [(r, "inf_hospitalised", "0")],
                      [(r, "inf_severity")])


# Which rows each kind picks from: "" base rows, else a repeating form.
INJECTORS: dict[str, tuple[tuple[str, ...], Callable[[Context, Row], bool]]] = {
    "icu_discharge_before_admission": (("icu_stay",), _icu_discharge_before_admission),
    "treatment_before_diagnosis": (("treatments",), _treatment_before_diagnosis),
    "treatment_stop_before_start": (("treatments",), _treatment_stop_before_start),
    "infection_after_death": (("infections",), _infection_after_death),
    "future_date": (("treatments", "infections"), _future_date),
    "impossible_date": (("treatments", "infections"), _impossible_date),
    "implausible_age": (("",), _implausible_age),
    "icu_ever_no_with_stay": (("",), _icu_ever_no_with_stay),
    "ventilation_outside_icu": (("icu_stay",), _ventilation_outside_icu),
    "infection_missing_date": (("infections",), _infection_missing_date),
    "unknown_code": (("", "icu_stay", "infections"),
                     _by_spec(_UNKNOWN_CODE, "unknown_code", _unknown_value)),
    "missing_required": (("", "icu_stay", "infections", "treatments"),
                         _by_spec(_MISSING_REQUIRED, "missing_required",
                                  lambda c, r, n: "")),
    "branching_shown_empty": (("", "treatments", "icu_stay"),
                              _by_spec(_SHOWN_EMPTY, "branching_shown_empty",
                                       lambda c, r, n: "")),
    "branching_hidden_filled": (("", "treatments", "icu_stay", "infections"),
                                _by_spec(_HIDDEN_FILLED, "branching_hidden_filled",
                                         _hidden_value)),
    "out_of_range": (("",), _by_spec(_OUT_OF_RANGE, "out_of_range", _range_value)),
    "duplicate_instance": (("treatments", "infections"), _duplicate_instance),
    "severity_not_hospitalised": (("infections",), _severity_not_hospitalised),
}
