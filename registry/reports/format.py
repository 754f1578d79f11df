"""How numbers and dates are written in the reports, in one place.

The templates use these as jinja2 filters and the tests use the same functions to
find `<study>.json`'s numbers in the PDF text, so what is printed and what is checked
cannot drift apart.
"""

from __future__ import annotations

import math
from datetime import date, datetime

__all__ = [
    "EMPTY",
    "fmt_ci",
    "fmt_date",
    "fmt_datetime",
    "fmt_hr",
    "fmt_hr_ci",
    "fmt_int",
    "fmt_p",
    "fmt_pct",
    "fmt_smd",
    "plural",
    "with_article",
]

#: What a missing number prints as.
EMPTY = "–"


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_hr(x: float | None) -> str:
    """A hazard ratio: two decimals ("1.02")."""
    return EMPTY if _missing(x) else f"{x:.2f}"


def fmt_ci(low: float | None, high: float | None) -> str:
    """A confidence interval: "0.48 to 2.16" (words, not a dash that reads as minus)."""
    if _missing(low) or _missing(high):
        return EMPTY
    return f"{fmt_hr(low)} to {fmt_hr(high)}"


def fmt_hr_ci(hr: float | None, low: float | None, high: float | None) -> str:
    """"1.02 (0.48 to 2.16)"."""
    if _missing(hr):
        return EMPTY
    return f"{fmt_hr(hr)} ({fmt_ci(low, high)})"


def fmt_p(p: float | None) -> str:
    """A p-value: "<0.001" below that, else three decimals."""
    if _missing(p):
        return EMPTY
    return "<0.001" if float(p) < 0.001 else f"{float(p):.3f}"  # type: ignore[arg-type]


def fmt_int(n: int | float | None) -> str:
    """A count, with thousands separated by a comma; a mean over draws (not a whole
    number) with one decimal."""
    if _missing(n):
        return EMPTY
    return f"{int(n):,}" if float(n).is_integer() else f"{float(n):,.1f}"  # type: ignore[arg-type]


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """A percentage given as percent (12.5 -> "12.5%")."""
    return EMPTY if _missing(x) else f"{x:.{digits}f}%"


def fmt_smd(x: float | None) -> str:
    """A standardised mean difference: two decimals, sign kept."""
    return EMPTY if _missing(x) else f"{x:.2f}"


def fmt_date(d: date | datetime | None) -> str:
    """"25 Nov 2026"."""
    return EMPTY if d is None else f"{d.day} {d:%b %Y}"


def fmt_datetime(d: datetime | None) -> str:
    """"25 Nov 2026, 02:14 UTC" (naive times are taken as UTC, as the store keeps them)."""
    if d is None:
        return EMPTY
    zone = "UTC" if d.tzinfo is None else (d.tzname() or "UTC")
    return f"{fmt_date(d)}, {d:%H:%M} {zone}"


def plural(n: int, one: str, many: str | None = None) -> str:
    """"1 record", "3 records"."""
    return f"{fmt_int(n)} {one if n == 1 else (many or one + 's')}"


_VOWEL_LETTERS = set("AEFHILMNORSX")  # letters read with a vowel first: "an ICU", "an MRI"


def with_article(name: str) -> str:
    """A category named in running text: "a calcineurin inhibitor", "a JAK inhibitor",
    "an IVIG" (a capital that only starts the label is lowered; acronyms are kept)."""
    name = name.strip()
    if not name:
        return name
    first = name.split()[0]
    acronym = len(first) > 1 and first[:2].isupper()
    if not acronym:
        name = name[0].lower() + name[1:]
    vowel = first[0].upper() in _VOWEL_LETTERS if acronym else name[0] in "aeio"
    return f"{'an' if vowel else 'a'} {name}"
