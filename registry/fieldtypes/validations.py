"""REDCap's text validations: the stored format each accepts and its plain words.

`VALIDATIONS` by name (the legacy names included), `validation_of(row)` for a
dictionary row (a slider is a whole number, a calc a number).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["CALC", "DATE_VALIDATIONS", "SLIDER", "VALIDATIONS", "Validation",
           "validation_name", "validation_of"]


@dataclass(frozen=True)
class Validation:
    """One REDCap text validation, as REDCap stores and checks its values.

    `kind` says what the value is (`date`, `datetime`, `datetime_seconds`, `time`,
    `time_hh_mm_ss`, `time_mm_ss`, `integer`, `number` or `text`), `pattern` the
    stored format REDCap's validation accepts (anchored), `comma` whether the decimal
    separator is a comma, `words` the plain description used in messages.
    """

    name: str
    kind: str
    pattern: str
    words: str
    comma: bool = False

    @property
    def regex(self) -> re.Pattern[str]:
        """The compiled stored format."""
        return _compiled(self.pattern)


_DATE = r"\d{4}-\d{2}-\d{2}"
_HOUR = r"(?:[0-9]|[01][0-9]|2[0-3])"
_MIN_SEC = r"[0-5][0-9]"


def _v(name: str, kind: str, pattern: str, words: str, comma: bool = False) -> Validation:
    return Validation(name, kind, pattern, words, comma)


def _number_dp(n: int, comma: bool) -> Validation:
    sep = "," if comma else r"\."
    example = "12" + ("," if comma else ".") + "5678"[:n]
    decimals = "1 decimal" if n == 1 else f"{n} decimals"
    how = ", with a comma" if comma else ""
    name = f"number_{n}dp" + ("_comma_decimal" if comma else "")
    return _v(name, "number", rf"-?\d+{sep}\d{{{n}}}",
              f"a number with {decimals}{how} (such as {example})", comma)


_VALIDATION_LIST: tuple[Validation, ...] = (
    *(_v(f"date_{o}", "date", _DATE, "a date (YYYY-MM-DD)") for o in ("ymd", "mdy", "dmy")),
    *(_v(f"datetime_{o}", "datetime", rf"{_DATE} {_HOUR}:{_MIN_SEC}",
         "a date and time (YYYY-MM-DD HH:MM)") for o in ("ymd", "mdy", "dmy")),
    *(_v(f"datetime_seconds_{o}", "datetime_seconds",
         rf"{_DATE} {_HOUR}:{_MIN_SEC}:{_MIN_SEC}",
         "a date and time with seconds (YYYY-MM-DD HH:MM:SS)") for o in ("ymd", "mdy", "dmy")),
    _v("time", "time", rf"{_HOUR}:{_MIN_SEC}", "a time of day (HH:MM)"),
    _v("time_hh_mm_ss", "time_hh_mm_ss", rf"{_HOUR}:{_MIN_SEC}:{_MIN_SEC}",
       "a time of day with seconds (HH:MM:SS)"),
    _v("time_mm_ss", "time_mm_ss", rf"{_MIN_SEC}:{_MIN_SEC}",
       "minutes and seconds (MM:SS)"),
    _v("integer", "integer", r"[-+]?\d+", "a whole number"),
    _v("number", "number", r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?",
       "a number (such as 12 or 12.5)"),
    *(_number_dp(n, False) for n in (1, 2, 3, 4)),
    _v("number_comma_decimal", "number", r"[-+]?[0-9]*,?[0-9]+(?:[eE][-+]?[0-9]+)?",
       "a number, with a comma for decimals (such as 12 or 12,5)", True),
    *(_number_dp(n, True) for n in (1, 2, 3, 4)),
    # REDCap's e-mail pattern, with top-level domains longer than 4 letters (.health)
    _v("email", "text", r"[_a-z0-9'-]+(?:\.[_a-z0-9'-]+)*@[a-z0-9-]+(?:\.[a-z0-9-]+)*"
       r"\.[a-z]{2,63}", "an e-mail address (such as name@example.org)"),
    _v("phone", "text", r"(?:\(?(?:[2-9]1[02-9]|[2-9][02-8]1|[2-9][02-8][02-9])\)?)\s*"
       r"(?:[.-]\s*)?(?:[2-9]1[02-9]|[2-9][02-9]1|[2-9][02-9]{2})\s*(?:[.-]\s*)?[0-9]{4}"
       r"(?:\s*(?:#|x\.?|ext\.?|extension)\s*\d+)?",
       "a U.S. phone number (such as 615-322-2222)"),
    _v("phone_australia", "text", r"(?:\(0[2-8]\)|0[2-8])\s*\d{4}\s*\d{4}",
       "an Australian phone number (such as 02 9999 9999)"),
    _v("phone_uk", "text", r"(?:(?:(?:\+44|0044)\s?\d{4}|\(?0\d{4}\)?)\s?\d{3}\s?\d{3}|"
       r"(?:(?:\+44|0044)\s?\d{3}|\(?0\d{3}\)?)\s?\d{3}\s?\d{4}|(?:(?:\+44|0044)\s?\d{2}|"
       r"\(?0\d{2}\)?)\s?\d{4}\s?\d{4})(?:\s?#(?:\d{4}|\d{3}))?",
       "a U.K. phone number (such as 020 7946 0000)"),
    _v("zipcode", "text", r"\d{5}(?:-\d{4})?", "a U.S. zip code (such as 37212)"),
    _v("postalcode_australia", "text", r"\d{4}", "an Australian postcode (4 digits)"),
    _v("postalcode_canada", "text",
       r"[ABCEGHJKLMNPRSTVXYabceghjklmnprstvxy]\d[A-Za-z]\s*\d[A-Za-z]\d",
       "a Canadian postal code (such as K1A 0B1)"),
    _v("postalcode_french", "text", r"(?:0?[1-9]|[1-8][0-9]|9[0-8])[0-9]{3}",
       "a French postcode (5 digits)"),
    _v("postalcode_germany", "text", r"(?:0[1-9]|[1-9]\d)\d{3}",
       "a German postcode (5 digits)"),
    _v("postalcode_uk", "text", r"(?:[A-Z]{1,2}\d{1,2}|[A-Z]{1,2}\d[A-Z]) \d[ABD-HJLNP-Z]{2}",
       "a U.K. postcode (such as SW1A 1AA)"),
    _v("alpha_only", "text", r"[A-Za-z]+", "letters only"),
    _v("ssn", "text", r"\d{3}-\d{2}-\d{4}", "a U.S. social security number (123-45-6789)"),
    _v("mrn_10d", "text", r"\d{10}", "a medical record number of 10 digits"),
    _v("mrn_generic", "text", r"[A-Za-z0-9_-]+", "a medical record number (letters, digits, "
       "- and _)"),
    _v("vmrn", "text", r"[0-9]{4,9}", "a medical record number of 4 to 9 digits"),
)
#: REDCap's text validations by name, the legacy names (date, int, float, ...) included.
VALIDATIONS: dict[str, Validation] = {v.name: v for v in _VALIDATION_LIST}
VALIDATIONS.update({"date": VALIDATIONS["date_ymd"], "int": VALIDATIONS["integer"],
                    "float": VALIDATIONS["number"], "datetime": VALIDATIONS["datetime_ymd"],
                    "datetime_seconds": VALIDATIONS["datetime_seconds_ymd"]})
#: REDCap's date validations (and the legacy name "date"); exports are always Y-M-D.
DATE_VALIDATIONS = frozenset(n for n, v in VALIDATIONS.items() if v.kind == "date")
SLIDER = Validation("slider", "integer", r"\d+", "a whole number from the slider")
CALC = Validation("calc", "number", r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?",
                   "a number")
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _PATTERNS:
        _PATTERNS[pattern] = re.compile(pattern, re.IGNORECASE if "a-z" in pattern else 0)
    return _PATTERNS[pattern]


def validation_name(row: Mapping[str, str]) -> str:
    return (row.get("text_validation_type_or_show_slider_number") or "").strip().lower()


def validation_of(row: Mapping[str, str]) -> Validation | None:
    """The validation a dictionary row's values must pass, or None (free text, choices).

    Text fields: their text validation (None without one, or for a validation this
    REDCap-independent reader does not know, e.g. a site's custom one); slider: a whole
    number; calc: a number.
    """
    ftype = row.get("field_type", "")
    if ftype == "text":
        return VALIDATIONS.get(validation_name(row))
    if ftype == "slider":
        return SLIDER
    if ftype == "calc":
        return CALC
    return None
