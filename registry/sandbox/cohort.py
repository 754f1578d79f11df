"""The clean synthetic anti-MDA5 DM cohort: who, when, what happened (no errors yet).

Event times are simulated day by day from diagnosis (day 0) with piecewise-constant
daily hazards, vectorised over patients, so the cohort has a known causal structure:

* death or lung transplant: early-peaking baseline hazard, multiplied by RP-ILD, by
  having been in an ICU (from the day after the first admission on), a little by age,
  and by `true_hr` from the day after the JAK-CNI combination starts (time-varying);
* ICU admission: early-peaking, higher with RP-ILD;
* infections: early-peaking, higher with RP-ILD and after an ICU admission, not
  changed by JAK-CNI;
* JAK-CNI start: higher with RP-ILD and after an ICU admission (so both confound the
  exposure-outcome link and risk-set matching on them matters), rarer before 2017.

So a risk-set-matched analysis (matching on time since diagnosis, RP-ILD and ICU
before the index day), with a Cox model stratified on the matched set, recovers
`true_hr`. ICU admissions and JAK-CNI starts happen within the first 730 days; after
that the death/transplant hazard is constant and the remaining event time is drawn
exactly (exponential). Censoring (loss to follow-up, the data's `as_of` day) is
independent of everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

__all__ = ["DAYS_PER_YEAR", "IcuStay", "Infection", "Patient", "Treatment", "simulate_cohort"]

DAYS_PER_YEAR = 365.2425  # REDCap's datediff(..., "y")
_LOOP_DAYS = 730
_FIRST_DIAGNOSIS = date(2012, 1, 1)
_LAST_DIAGNOSIS = date(2024, 12, 31)

# Hazard model (per day). Calibrated so that ~half die or are transplanted within a year.
_H_EARLY, _H_TAU, _H_LATE = 0.0040, 70.0, 0.00012
_LOG_HR_RP, _LOG_HR_ICU, _LOG_HR_AGE10 = np.log(2.3), np.log(2.2), np.log(1.15)
_G_EARLY, _G_TAU, _G_LATE = 0.0085, 45.0, 0.00002
_G_RP, _G_READMIT = 2.5, 0.35
_E_EARLY, _E_TAU, _E_LATE = 0.0012, 110.0, 0.00002
_E_RP, _E_ICU, _E_BEFORE_2017 = 2.0, 2.5, 0.15
_P_TRANSPLANT = 0.11
_I_EARLY, _I_TAU, _I_LATE, _I_RP, _I_ICU = 0.006, 120.0, 0.0004, 1.5, 2.0


@dataclass
class Treatment:
    cls: str
    name: str
    start: int
    stop: int | None  # None: still taken at last follow-up
    other: str = ""


@dataclass
class IcuStay:
    admit: int
    discharge: int | None  # None: died in the ICU or still there at last follow-up
    reason: str
    mv: int | None
    ecmo: int | None


@dataclass
class Infection:
    day: int
    site: str
    pathogen: str
    documented: str
    organism: str
    severity: str
    hospitalised: str


@dataclass
class Patient:
    """One clean patient. Days count from `diagnosis` (day 0)."""

    sex: str
    birth: date
    diagnosis: date
    mda5: int
    ferritin: str
    ild: bool
    rp_ild: bool
    hrct: str
    skin: list[bool]
    weakness: bool
    cpk: str
    notes: str
    last_fu: int
    death: int | None
    death_cause: str
    transplant: int | None
    exposure: int | None  # JAK-CNI index day
    treatments: list[Treatment] = field(default_factory=list)
    icu: list[IcuStay] = field(default_factory=list)
    infections: list[Infection] = field(default_factory=list)
    entry: int = 0  # registry entry, days after diagnosis (delayed entry; 0 by default)

    def day(self, d: int) -> date:
        return self.diagnosis + timedelta(days=int(d))


def _pick(rng: np.random.Generator, options: list[str], weights: list[float]) -> str:
    """One of `options` with probability proportional to `weights` (one uniform draw)."""
    u = rng.random() * sum(weights)
    acc = 0.0
    for option, w in zip(options, weights, strict=True):
        acc += w
        if u < acc:
            return option
    return options[-1]


def simulate_cohort(
    rng: np.random.Generator, n: int, as_of: date, true_hr: float,
    entry: np.ndarray | None = None,
) -> list[Patient]:
    """Simulate `n` clean patients whose data end on or before `as_of`.

    `entry`: registry entry per patient, days after diagnosis (default all 0). JAK-CNI
    is started by the registry's centres, so only on or after entry; every other
    process runs from diagnosis whatever the entry (the same random numbers are drawn).
    """
    entered_by = np.zeros(n, np.int64) if entry is None else np.asarray(entry, np.int64)
    last_dx = min(_LAST_DIAGNOSIS, as_of - timedelta(days=180))
    first_dx = min(_FIRST_DIAGNOSIS, last_dx - timedelta(days=365))
    span = (last_dx - first_dx).days
    dx_off = rng.integers(0, span + 1, size=n)
    age = np.clip(rng.normal(52.0, 13.0, size=n), 18.6, 84.4)
    ild = rng.random(n) < 0.95
    rp = ild & (rng.random(n) < 0.55)
    dx_year = np.array([(first_dx + timedelta(days=int(d))).year for d in dx_off])
    to_as_of = np.array([(as_of - first_dx).days - int(d) for d in dx_off])
    admin = to_as_of - rng.integers(0, 91, size=n)
    loss = np.ceil(rng.exponential(8 * 365.0, size=n)).astype(int) + 30
    cens = np.minimum(admin, loss)

    event = np.full(n, -1)
    icu_in = np.full(n, -1)  # current stay's planned discharge day, -1 when out
    icu_first = np.full(n, -1)
    exposed = np.full(n, -1)
    stays: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    lin = _LOG_HR_RP * rp + _LOG_HR_AGE10 * (age - 52.0) / 10.0
    e_mult = np.where(rp, _E_RP, 1.0) * np.where(dx_year < 2017, _E_BEFORE_2017, 1.0)
    log_hr = np.log(true_hr)
    horizon = min(int(cens.max(initial=0)), _LOOP_DAYS)
    for t in range(1, horizon + 1):
        at_risk = (event < 0) & (t <= cens)
        if not at_risk.any():
            break
        icu_before = (icu_first >= 0) & (icu_first < t)
        exp_before = (exposed >= 0) & (exposed < t)
        h = (_H_EARLY * np.exp(-t / _H_TAU) + _H_LATE) * np.exp(
            lin + _LOG_HR_ICU * icu_before + log_hr * exp_before)
        die = at_risk & (rng.random(n) < -np.expm1(-h))
        event[die] = t
        alive = at_risk & ~die
        # ICU: discharge, then admissions among those out of the ICU.
        icu_in[alive & (icu_in >= 0) & (icu_in <= t)] = -1
        g = (_G_EARLY * np.exp(-t / _G_TAU) + _G_LATE) * np.where(rp, _G_RP, 1.0)
        g = g * np.where(icu_first >= 0, _G_READMIT, 1.0)
        adm = alive & (icu_in < 0) & (rng.random(n) < -np.expm1(-g))
        for i in np.flatnonzero(adm):
            length = int(3 + rng.negative_binomial(2, 0.15))
            icu_in[i] = t + length
            stays[i].append((t, t + length))
            if icu_first[i] < 0:
                icu_first[i] = t
        # JAK-CNI start, with the ICU status as of the end of today.
        icu_now = icu_first >= 0
        e = (_E_EARLY * np.exp(-t / _E_TAU) + _E_LATE) * e_mult * np.where(icu_now, _E_ICU, 1)
        # (never on the last day of follow-up: an exposed patient is followed after it)
        start = (alive & (exposed < 0) & (t < cens) & (rng.random(n) < -np.expm1(-e))
                 & (t >= entered_by))
        exposed[start] = t
        # Loss to follow-up is not recorded in the middle of an ICU stay.
        stuck = alive & (cens == t) & (icu_in > t) & (cens < admin)
        cens[stuck] = np.minimum(icu_in[stuck], admin[stuck])
    # Beyond the loop every hazard is constant: draw the remaining time exactly.
    late = (event < 0) & (cens > horizon)
    rate = _H_LATE * np.exp(lin + _LOG_HR_ICU * (icu_first >= 0) + log_hr * (exposed >= 0))
    extra = horizon + np.ceil(rng.exponential(1.0, size=n) / rate).astype(int)
    event = np.where(late & (extra <= cens), extra, event)

    out = [
        _patient(rng, i, first_dx + timedelta(days=int(dx_off[i])), float(age[i]),
                 bool(ild[i]), bool(rp[i]), int(cens[i]), int(admin[i]), int(event[i]),
                 int(exposed[i]), stays[i])
        for i in range(n)
    ]
    for p, e in zip(out, entered_by, strict=True):
        p.entry = int(e)
    return out


def _patient(
    rng: np.random.Generator, i: int, dx: date, age: float, ild: bool, rp: bool, cens: int,
    admin: int, event: int, exposure: int, stays: list[tuple[int, int]],
) -> Patient:
    birth = dx - timedelta(days=int(round(age * DAYS_PER_YEAR)))
    death: int | None = None
    transplant: int | None = None
    if event >= 0:
        if rng.random() < _P_TRANSPLANT:
            transplant = event
            end = min(admin, event + 30 + int(rng.exponential(700)))
            if rng.random() < 0.2 and event + 20 <= admin:
                death = min(end, event + 20 + int(rng.exponential(300)))
                end = death
            last_fu = max(end, event)
        else:
            death = last_fu = event
    else:
        last_fu = cens
    weakness = rng.random() < 0.45
    p = Patient(
        sex=_pick(rng, ["1", "2"], [0.68, 0.32]),
        birth=birth, diagnosis=dx,
        mda5=int(np.clip(rng.lognormal(np.log(140), 0.7), 20, 500)),
        ferritin="" if rng.random() < 0.08 else
        str(int(np.clip(rng.lognormal(np.log(900 if rp else 500), 0.9), 15, 30000))),
        ild=ild, rp_ild=rp,
        hrct=("" if not ild or rng.random() < 0.05 else
              _pick(rng, ["1", "2", "3", "4", "5", "9"], [35, 20, 25, 4, 12, 4])),
        skin=[bool(rng.random() < q) for q in (0.65, 0.45, 0.35, 0.40, 0.30)],
        weakness=weakness,
        cpk="" if not weakness or rng.random() < 0.1 else
        str(int(np.clip(rng.lognormal(np.log(250), 1.0), 20, 20000))),
        notes=_pick(rng, ["", "Transféré depuis l'hôpital de Créteil",
                          "Ulcères digitaux sévères", "Anti-Ro52 positif",
                          "Suivi conjoint pneumologie / médecine interne"],
                    [88, 3, 3, 4, 2]),
        last_fu=last_fu, death=death,
        death_cause=("" if death is None or rng.random() < 0.05 else
                     _pick(rng, ["1", "2", "3"], [65, 25, 10])),
        transplant=transplant,
        exposure=exposure if exposure >= 0 else None,
    )
    p.icu = _icu_stays(rng, stays, p)
    p.treatments = _treatments(rng, p)
    p.infections = _infections(rng, p)
    return p


def _icu_stays(rng: np.random.Generator, stays: list[tuple[int, int]], p: Patient
               ) -> list[IcuStay]:
    out = []
    for admit, planned in stays:
        if admit > p.last_fu:
            continue
        ends_inside = planned >= p.last_fu and (p.death is not None or planned > p.last_fu)
        discharge = None if ends_inside else planned
        last_day = p.last_fu if discharge is None else discharge
        reason = _pick(rng, ["1", "2", "3"], [75, 20, 5])
        mv = ecmo = None
        if rng.random() < (0.65 if p.rp_ild else 0.45):
            mv = admit + int(min(rng.geometric(0.4) - 1, last_day - admit))
            if rng.random() < 0.15:
                ecmo = mv + int(min(rng.geometric(0.3) - 1, last_day - mv))
        out.append(IcuStay(admit, discharge, reason, mv, ecmo))
    return out


_OTHER_DRUGS = ["Hydroxychloroquine", "Polymyxin B hemoperfusion", "Basiliximab",
                "Azathioprine"]


def _treatments(rng: np.random.Generator, p: Patient) -> list[Treatment]:
    end = p.last_fu
    out: list[Treatment] = []

    def add(cls: str, name: str, start: int, length: int, other: str = "") -> None:
        if start > end:
            return
        stop = start + max(length, 0)
        out.append(Treatment(cls, name, start, stop if stop <= end else None, other))

    if rng.random() < 0.65:
        add("3", "31", int(rng.integers(0, 8)), 2)
    if rng.random() < 0.97:
        add("3", "32", int(rng.integers(0, 15)), int(rng.integers(180, 900)))
    if rng.random() < 0.45:
        add("4", "41", int(rng.integers(0, 60)), int(rng.integers(5, 180)))
    if rng.random() < 0.35:
        add("5", "51", int(rng.integers(0, 60)), int(rng.integers(60, 180)))
    if rng.random() < 0.15:
        add("6", "61", int(rng.integers(14, 200)), 14)
    if rng.random() < 0.10:
        add("7", "71", int(rng.integers(0, 45)), int(rng.integers(5, 20)))
    if rng.random() < 0.25:
        add("8", "81", int(rng.integers(30, 400)), int(rng.integers(180, 900)))
    if rng.random() < 0.04:
        add("9", "99", int(rng.integers(0, 120)), int(rng.integers(30, 365)),
            _OTHER_DRUGS[int(rng.integers(len(_OTHER_DRUGS)))])
    jak = _pick(rng, ["11", "12", "13", "14"], [55, 25, 15, 5])
    cni = _pick(rng, ["21", "22"], [75, 25])
    e = p.exposure
    if e is not None:
        pattern = rng.random()
        cni_start = int(rng.integers(0, e + 1)) if pattern < 0.5 else e
        jak_start = int(rng.integers(0, e + 1)) if 0.5 <= pattern < 0.8 else e
        add("1", jak, jak_start, e - jak_start + int(rng.integers(30, 600)))
        add("2", cni, cni_start, e - cni_start + int(rng.integers(30, 600)))
    elif rng.random() < 0.35:
        add("2", cni, int(rng.integers(0, 90)), int(rng.integers(60, 700)))
    elif rng.random() < 0.06:
        add("1", jak, int(rng.integers(0, 90)), int(rng.integers(30, 400)))
    return out


_ORGANISMS = {
    "1": ["Pseudomonas aeruginosa", "Staphylococcus aureus", "Escherichia coli",
          "Klebsiella pneumoniae"],
    "2": ["Cytomegalovirus", "SARS-CoV-2", "Influenza A", "Herpes zoster"],
    "3": ["Aspergillus fumigatus", "Candida albicans"],
    "4": ["Pneumocystis jirovecii"],
    "5": ["Mycobacterium tuberculosis"],
}


def _infections(rng: np.random.Generator, p: Patient) -> list[Infection]:
    # A daily process over the first two years: early-peaking, higher with RP-ILD and
    # from the first ICU admission on, and NOT changed by JAK-CNI (the study found no
    # excess infections); exposed patients are infected more only through being sicker.
    t = np.arange(min(p.last_fu, _LOOP_DAYS) + 1)
    rate = (_I_EARLY * np.exp(-t / _I_TAU) + _I_LATE) * (_I_RP if p.rp_ild else 1.0)
    if p.icu:
        rate = rate * np.where(t >= p.icu[0].admit, _I_ICU, 1.0)
    days = np.flatnonzero(rng.random(len(t)) < -np.expm1(-rate)).tolist()
    out = []
    for d in days:
        pathogen = _pick(rng, ["1", "2", "3", "4", "5", "9"], [45, 20, 12, 8, 3, 12])
        documented = "1" if pathogen != "9" and rng.random() < 0.8 else "2"
        organism = ""
        if documented == "1" and pathogen in _ORGANISMS and rng.random() < 0.9:
            names = _ORGANISMS[pathogen]
            organism = names[int(rng.integers(len(names)))]
        severity = _pick(rng, ["1", "2", "3", "4"], [25, 35, 28, 12])
        hosp = severity in ("3", "4") or rng.random() < (0.5 if severity == "2" else 0.1)
        out.append(Infection(d, _pick(rng, ["1", "2", "3", "4", "5", "6", "9"],
                                      [55, 15, 10, 8, 6, 1, 5]),
                             pathogen, documented, organism, severity, "1" if hosp else "0"))
    return out
