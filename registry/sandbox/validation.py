"""One imported value, read and checked as REDCap 15.7.6 does (`Records::saveData`).

Before checking, REDCap normalises some values and stores the normalised form:
- date/datetime fields: a `/` value is read day- or month-first when `dateFormat` is
  DMY or MDY (a 2-digit year becomes 20yy if under this year + 10, else 19yy); a
  dashed value gets its zeros (`2020-1-5` -> `2020-01-05`); a datetime's `T` becomes a
  space and its time is written `HH:MM[:SS]`, a missing time becoming `00:00`;
- time `9:30` -> `09:30`; a North-American phone -> `(xxx) xxx-xxxx`; a Vanderbilt MRN
  is zero-padded to 9 digits.
Then every validation is checked in its Y-M-D form (a `date_dmy` field takes the
same values as a `date_ymd` one) and a failure gets the type's message: the specific
ones REDCap has (dates by `dateFormat`, time, phone, email, zipcode), else its generic
"could not be validated" text (which integer, number and number_Ndp get too: REDCap
maps the legacy `int`/`float` names to `integer`/`number` before choosing the message).
The patterns are the sandbox's own equivalents of REDCap's validation table; a
validation type the sandbox does not know (a server's own addition) accepts any value.

Choices: radio, dropdown, yesno, truefalse and `<form>_complete` take their codes only;
a checkbox column takes `0` or `1`; sql fields are not checked. Sliders must be integers
in [min, max] (0-100 by default). A text field's min/max refuses a value only with the
`@FORCE-MINMAX` action tag (otherwise REDCap only warns, and the API shows no
warnings); `today`/`now` bounds are the server's date. Calculated fields (and
`@CALCTEXT`/`@CALCDATE` text fields), file fields and survey timestamps are ignored:
never stored, never refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

__all__ = ["FieldRules", "ValueCheck", "check_value", "is_php_integer"]

_DAY = r"(\d{4})([-/])(\d{2})\2(\d{2})"
_HM = r"(\d|[01]\d|2[0-3]):[0-5]\d"
_PATTERNS: dict[str, str] = {
    "integer": r"^[-+]?\d+$",
    "number": r"^[-+]?\d*\.?\d+([eE][-+]?\d+)?$",
    "number_comma_decimal": r"^[-+]?\d*,?\d+([eE][-+]?\d+)?$",
    "time": rf"^{_HM}$",
    "time_mm_ss": r"^[0-5]\d:[0-5]\d$",
    "time_hh_mm_ss": rf"^{_HM}:[0-5]\d$",
    "email": r"^(?!\.)(?!.*\.\.)[\w!#$%&'*+/=?^`{|}~.-]+@(?!\.)[\w.-]+(\.[^\W\d_]{2,63})+$",
    "phone": r"^\(?[2-9]\d{2}\)?\s*(?:[.-]\s*)?[2-9]\d{2}\s*(?:[.-]\s*)?\d{4}"
             r"(?:\s*(?:#|x\.?|ext\.?|extension)\s*\d+)?$",
    "phone_australia": r"^(\(0[2-8]\)|0[2-8])\s*\d{4}\s*\d{4}$",
    "zipcode": r"^\d{5}(-\d{4})?$",
    "alpha_only": r"^[a-zA-Z]+$",
    "mrn_10d": r"^\d{10}$",
    "mrn_generic": r"^[a-zA-Z0-9_-]+$",
    "vmrn": r"^\d{4,9}$",
    "ssn": r"^\d{3}-\d\d-\d{4}$",
    "postalcode_australia": r"^\d{4}$",
    "postalcode_canada": r"^[ABCEGHJ-NPRSTVXY]\d[A-Z]\s*\d[A-Z]\d$",
    "postalcode_germany": r"^(0[1-9]|[1-9]\d)\d{3}$",
    "postalcode_french": r"^(0?[1-9]|[1-8]\d|9[0-8])\d{3}$",
    "postalcode_uk": r"^[A-Z]{1,2}\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2}$",
}
for _n in range(1, 5):
    _PATTERNS[f"number_{_n}dp"] = rf"^-?\d+\.\d{{{_n}}}$"
    _PATTERNS[f"number_{_n}dp_comma_decimal"] = rf"^-?\d+,\d{{{_n}}}$"
_COMPILED = {k: re.compile(v, re.IGNORECASE if k in ("postalcode_canada",) else 0)
             for k, v in _PATTERNS.items()}
_DATE_RE = re.compile(rf"^{_DAY}$")
_DATETIME_RE = re.compile(rf"^{_DAY} {_HM}$")
_DATETIME_S_RE = re.compile(rf"^{_DAY} {_HM}:[0-5]\d$")
_LEGACY = {"int": "integer", "float": "number", "date": "date_ymd",
           "datetime": "datetime_ymd", "datetime_seconds": "datetime_seconds_ymd"}
_GENERIC = ("The value you provided could not be validated because it does not follow the "
            "expected format. Please try again.")
_DATE_MSG = {"YMD": "Y-M-D", "MDY": "M/D/Y format or Y-M-D", "DMY": "D/M/Y format or Y-M-D"}
_DATETIME_MSG = {"YMD": "Y-M-D H:M[:S]", "MDY": "M/D/Y H:M[:S]", "DMY": "D/M/Y H:M[:S]"}
_PHP_NUMERIC = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_CHOICE_TYPES = ("radio", "dropdown", "yesno", "truefalse", "complete")
_IGNORED_TYPES = ("calc", "file")


@dataclass(frozen=True)
class FieldRules:
    """What checking one export column needs from the dictionary."""

    name: str
    kind: str            # field_type, or "complete" / "checkbox"
    validation: str = ""
    minimum: str = ""
    maximum: str = ""
    annotation: str = ""
    choices: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ValueCheck:
    """The value to store (normalised), REDCap's message if refused, or `ignored`."""

    value: str
    error: str | None = None
    ignored: bool = False


def is_php_integer(text: str) -> bool:
    """REDCap's `isinteger`: an optionally signed integer without leading zeros."""
    t = text.strip()
    return bool(re.fullmatch(r"[-+]?\d+", t)) and not (t != "0" and t.startswith("0"))


def _year(y: str, today: date) -> str:
    if len(y) == 2 and y.isdigit():
        return ("20" if int(y) < today.year % 100 + 10 else "19") + y
    return y


def _num(text: str) -> int:
    """PHP's `%d` of a string: its leading integer, 0 if none."""
    m = re.match(r"\s*[-+]?\d+", text)
    return int(m.group()) if m else 0


def _clean_ymd(text: str, today: date) -> str:
    text = text.strip()
    if text.count("-") == 2 and len(text) < 10:
        y, m, d = text.split("-")
        return f"{_num(_year(y, today)):04d}-{_num(m):02d}-{_num(d):02d}"
    return text


def _slash_date(text: str, date_format: str, today: date) -> str:
    parts = (text.split("/") + ["", ""])[:3]
    d, m, y = parts if date_format == "DMY" else (parts[1], parts[0], parts[2])
    return f"{_num(_year(y, today)):04d}-{_num(m):02d}-{_num(d):02d}"


def normalise(rules: FieldRules, value: str, date_format: str, today: date) -> str:
    """The value REDCap stores for `value` before validating it (see module doc)."""
    vtype = rules.validation
    slash = "/" in value and date_format in ("DMY", "MDY")
    if vtype.startswith("datetime"):
        day, _, clock = value.replace("T", " ").partition(" ")
        day = _slash_date(day, date_format, today) if slash else _clean_ymd(day, today)
        hms = clock.split(":") if ":" in clock else ["", ""]
        hh, mm, ss = (hms + ["", ""])[:3]
        seconds = vtype.startswith("datetime_seconds")
        clock = f"{_num(hh):02d}:{_num(mm):02d}" + (f":{_num(ss):02d}" if seconds else "")
        return f"{_clean_ymd(day, today)} {clock}"
    if vtype.startswith("date"):
        return _slash_date(value, date_format, today) if slash else _clean_ymd(value, today)
    if vtype == "time" and ":" in value and len(value) < 5:
        return "0" + value
    if vtype == "vmrn":
        return f"{int(re.sub(r'[^0-9]', '', value) or 0):09d}"
    if vtype == "phone":
        digits = re.sub(r"[.() ]", "", value)
        if len(digits) >= 10 and digits[:10].isdigit():
            return f"({digits[:3]}) {digits[3:6]}-{digits[6:10]} {digits[10:]}".strip()
    return value


def _valid_day(m: re.Match[str]) -> bool:
    try:
        date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
    except ValueError:
        return False
    return True


def _type_error(vtype: str, value: str, name: str, date_format: str) -> str | None:
    if vtype.startswith("datetime"):
        pattern = _DATETIME_S_RE if vtype.startswith("datetime_seconds") else _DATETIME_RE
        m = pattern.match(value)
        return None if m and _valid_day(m) else (
            "Invalid date format. (NOTE: Dates must be imported here only in "
            f"{_DATETIME_MSG[date_format]} format, regardless of the specific date format "
            "designated for this field.)")
    if vtype.startswith("date"):
        m = _DATE_RE.match(value)
        return None if m and _valid_day(m) else (
            f"Invalid date format. (NOTE: Dates must be imported here only in "
            f"{_DATE_MSG[date_format]} format, regardless of the specific date format "
            "designated for this field.)")
    known = _COMPILED.get(vtype)
    if known is None or known.search(value):
        return None
    return {"time": "Time is not properly formatted as HH:MM (military format).",
            "phone": f"{name} must be a 10-digit phone number.",
            "email": "Email address is not properly formatted.",
            "zipcode": f"{name} must be a 5 or 9 digit U.S. ZIP Code",
            "vmrn": "Vanderbilt medical record number is not properly formatted. It should be "
                    "4- to 9-digit number (excluding leading zeros)."}.get(vtype, _GENERIC)


def _php_less(a: str, b: str) -> bool:
    """PHP 8's `<` on two strings: numeric when both are numeric, else byte order."""
    if _PHP_NUMERIC.match(a) and _PHP_NUMERIC.match(b):
        return float(a) < float(b)
    return a < b


def _bound(raw: str, now: datetime) -> str:
    return {"today": now.strftime("%Y-%m-%d"),
            "now": now.strftime("%Y-%m-%d %H:%M:%S")}.get(raw, raw)


def _range_error(rules: FieldRules, value: str, now: datetime) -> str | None:
    slider = rules.kind == "slider"
    low = rules.minimum if rules.minimum or not slider else "0"
    high = rules.maximum if rules.maximum or not slider else "100"
    if slider and not is_php_integer(value) and (low or high):
        return f"{rules.name} must be an integer"
    if not (slider or "@FORCE-MINMAX" in rules.annotation):
        return None  # a soft range: REDCap warns, the API does not show it
    comma = rules.validation.endswith("comma_decimal")
    comp = value.replace(",", ".") if comma else value
    lo, hi = _bound(low, now), _bound(high, now)
    if lo and _php_less(comp, lo.replace(",", ".") if comma else lo):
        return f"{rules.name} should not be less than the field minimum ({lo})"
    if hi and _php_less(hi.replace(",", ".") if comma else hi, comp):
        return f"{rules.name} should not be greater than the field maximum ({hi})"
    return None


def check_value(rules: FieldRules, value: str, *, date_format: str, now: datetime
                ) -> ValueCheck:
    """Check one non-empty, changed value of a column (REDCap checks nothing else)."""
    if rules.kind in _IGNORED_TYPES or re.search(r"@CALC(TEXT|DATE)\b", rules.annotation):
        return ValueCheck(value, ignored=True)
    if rules.kind == "checkbox":
        ok = value in ("0", "1")
        return ValueCheck(value, None if ok else (
            f"{rules.name} is a checkbox field and thus can only have a value of '1' "
            "(checked) or '0' (unchecked)."))
    if rules.kind in _CHOICE_TYPES:
        ok = value in rules.choices
        return ValueCheck(value, None if ok else
                          f"The value is not a valid category for {rules.name}")
    error = None
    if rules.kind == "text" and rules.validation:
        value = normalise(rules, value, date_format, now.date())
        error = _type_error(rules.validation, value, rules.name, date_format)
    if rules.kind in ("text", "slider") and (rules.minimum or rules.maximum
                                             or rules.kind == "slider"):
        error = _range_error(rules, value, now) or error
    return ValueCheck(value, error)


def field_rules(name: str, kind: str, row: dict[str, str] | None,
                choices: frozenset[str]) -> FieldRules:
    """`FieldRules` for an export column from its dictionary row (None: `_complete`)."""
    if row is None:
        return FieldRules(name, kind, choices=choices)
    vtype = row.get("text_validation_type_or_show_slider_number", "") if kind == "text" else ""
    return FieldRules(name, kind, validation=_LEGACY.get(vtype, vtype),
                      minimum=row.get("text_validation_min", "").strip(),
                      maximum=row.get("text_validation_max", "").strip(),
                      annotation=row.get("field_annotation", ""), choices=choices)
