"""Small tidy frames built by hand for the analyses tests (shape of docs/design.md).

`patient(...)` describes one patient in days from diagnosis; `frames(patients)` turns
a list of them into the five tidy frames. `simulate(...)` draws a cohort with a known,
constant hazard ratio of the (time-dependent) exposure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analyses.study import StudySpec, parse_study
from tests import anti_mda5

STUDY_FILE = anti_mda5.STUDY
ORIGIN = pd.Timestamp("2018-01-01")


def jak_cni(**study: object) -> StudySpec:
    """The shipped study, with [study] keys overridden (e.g. seed_repeats=0); 20
    bootstrap replicates of the per-protocol CI unless `pp_bootstrap` is given (the
    same code as the shipped 100, at a fifth of the cost)."""
    text = STUDY_FILE.read_text()
    for key, val in {"pp_bootstrap": 20, **study}.items():
        lit = str(val).lower() if isinstance(val, bool) else repr(val).replace("'", '"')
        lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
        i = lines.index("[study]")
        lines.insert(i + 1, f"{key} = {lit}")
        text = "\n".join(lines)
    return parse_study(text)


@dataclass
class P:
    """One patient, in days from diagnosis."""

    pid: int
    end: int                       # last follow-up, or event day if event
    event: bool = False            # death at `end`
    jak: tuple[int, int | None] | None = None   # (start, stop or None=ongoing)
    cni: tuple[int, int | None] | None = None
    rp_ild: bool = False
    icu: list[tuple[int, int | None]] = field(default_factory=list)
    infections: list[int] = field(default_factory=list)
    site: str = "paris"
    diag: pd.Timestamp = ORIGIN
    age: float = 50.0
    sex: str = "Female"


def frames(ps: list[P]) -> dict[str, pd.DataFrame]:
    """The tidy frames for these patients."""
    def key(p: P, form: str, inst: int | None) -> dict[str, object]:
        return {"patient_id": f"{p.site}:{p.pid}", "record_id": str(p.pid), "site": p.site,
                "form": form, "instance": inst}

    def d(p: P, day: int | None) -> pd.Timestamp | None:
        return None if day is None else p.diag + pd.Timedelta(days=int(day))

    pat, trt, icu, inf, out = [], [], [], [], []
    for p in ps:
        pat.append({**key(p, "baseline", None), "sex": p.sex, "birth_date": p.diag,
                    "diagnosis_date": p.diag, "age_at_diagnosis": p.age, "mda5_titre": 100,
                    "ferritin": 800.0, "ild": True, "rp_ild": p.rp_ild,
                    "muscle_weakness": False, "icu_ever": bool(p.icu)})
        inst = 0
        for cls, name, iv in (("JAK inhibitor", "Tofacitinib", p.jak),
                              ("Calcineurin inhibitor", "Tacrolimus", p.cni),
                              ("Glucocorticoids", "Prednisone", (0, None))):
            if iv is None:
                continue
            inst += 1
            trt.append({**key(p, "treatments", inst), "trt_class": cls, "trt_name": name,
                        "trt_start": d(p, iv[0]), "trt_ongoing": iv[1] is None,
                        "trt_stop": d(p, iv[1])})
        for i, (a, b) in enumerate(p.icu, 1):
            icu.append({**key(p, "icu_stay", i), "icu_admit_date": d(p, a),
                        "icu_discharge_date": d(p, b)})
        for i, day in enumerate(p.infections, 1):
            inf.append({**key(p, "infections", i), "inf_date": d(p, day),
                        "inf_severity": "Moderate"})
        out.append({**key(p, "outcome", None), "last_fu_date": d(p, p.end),
                    "vital_status": "Dead" if p.event else "Alive",
                    "death_date": d(p, p.end) if p.event else None, "lung_tx": False,
                    "lung_tx_date": None})
    cols = {"treatments": ["trt_class", "trt_name", "trt_start", "trt_ongoing", "trt_stop"],
            "icu_stays": ["icu_admit_date", "icu_discharge_date"],
            "infections": ["inf_date", "inf_severity"]}
    res = {"patients": pd.DataFrame(pat), "treatments": pd.DataFrame(trt),
           "icu_stays": pd.DataFrame(icu), "infections": pd.DataFrame(inf),
           "outcomes": pd.DataFrame(out)}
    base = ["patient_id", "record_id", "site", "form", "instance"]
    for name, c in cols.items():
        if res[name].empty:
            res[name] = pd.DataFrame(columns=base + c)
    for fr in res.values():
        for c in fr.columns:
            if c.endswith("_date") or c in ("trt_start", "trt_stop", "birth_date"):
                fr[c] = pd.to_datetime(fr[c])
        for c in ("rp_ild", "ild", "icu_ever", "muscle_weakness", "trt_ongoing", "lung_tx"):
            if c in fr.columns:
                fr[c] = fr[c].astype("boolean")
        fr["instance"] = fr["instance"].astype("Int64")
    return res


def simulate(n: int, seed: int, true_hr: float, p_exposed: float = 0.3,
             base_rate: float = 1 / 600, rp_ild_rate_mult: float = 2.0,
             exp_window: int = 180, follow: tuple[int, int] = (200, 1200)) -> list[P]:
    """Patients with a constant HR `true_hr` of the time-dependent exposure.

    Hazard = base_rate x (rp_ild_rate_mult if RP-ILD) x (true_hr once exposed); exposure
    (JAK + CNI) starts uniformly in [0, exp_window) for a share `p_exposed`, whether or
    not the patient is still at risk; censoring uniform in `follow`.
    """
    rng = np.random.default_rng(seed)
    ps = []
    for i in range(n):
        rp = bool(rng.random() < 0.5)
        lam = base_rate * (rp_ild_rate_mult if rp else 1.0)
        e_day = int(rng.integers(0, exp_window)) if rng.random() < p_exposed else None
        t0 = rng.exponential(1 / lam)
        if e_day is not None and t0 > e_day:
            t0 = e_day + rng.exponential(1 / (lam * true_hr))
        t = math.ceil(t0)
        cens = int(rng.integers(*follow))
        event = t <= cens
        end = t if event else cens
        jak = cni = None
        if e_day is not None and e_day < end:
            cni = (max(0, e_day - int(rng.integers(0, 30))), None)
            jak = (e_day, None)
        icu = []
        if rng.random() < 0.3:
            a = int(rng.integers(0, 100))
            icu.append((a, a + int(rng.integers(3, 40))))
        infs = sorted(int(x) for x in rng.integers(0, max(end, 1), rng.poisson(1.0)))
        ps.append(P(pid=i + 1, end=end, event=event, jak=jak, cni=cni, rp_ild=rp, icu=icu,
                    infections=infs, site=("paris", "lyon", "lille")[i % 3],
                    age=float(rng.normal(52, 12)),
                    sex="Female" if rng.random() < 0.7 else "Male"))
    return ps
