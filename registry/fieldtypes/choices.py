"""A field's choices and the columns of a flat export (checkboxes expanded)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["checkbox_code", "checkbox_columns", "choices", "export_columns", "parse_choices"]

_IMPLICIT_CHOICES = {
    "yesno": {"1": "Yes", "0": "No"},
    "truefalse": {"1": "True", "0": "False"},
}


def parse_choices(text: str) -> dict[str, str]:
    """REDCap's choice string to {code: label}: "1, Yes | 0, No" -> {"1": "Yes", "0": "No"}.

    Only the first comma separates code from label, so labels may hold commas. Older
    dictionaries separate choices with "\\n" instead of "|".
    """
    out: dict[str, str] = {}
    for part in re.split(r"\||\\n", text or ""):
        part = part.strip()
        if not part:
            continue
        code, sep, label = part.partition(",")
        out[code.strip()] = label.strip() if sep else code.strip()
    return out


def choices(row: Mapping[str, str]) -> dict[str, str]:
    """The {code: label} choices of a dictionary row, the implicit ones of yesno and
    truefalse included; {} for a field without choices (text, notes, calc, slider)."""
    ftype = row.get("field_type", "")
    if ftype in _IMPLICIT_CHOICES:
        return dict(_IMPLICIT_CHOICES[ftype])
    if ftype in ("radio", "dropdown", "checkbox"):
        return parse_choices(row.get("select_choices_or_calculations", ""))
    return {}


def checkbox_columns(row: Mapping[str, str]) -> list[str]:
    """Export columns of a checkbox field, `<field>___<code>` in choice order.

    The code as REDCap writes it there (`checkbox_code`: "-1" -> "_1", "Yes A" -> "yesa").
    """
    if row.get("field_type") != "checkbox":
        return []
    name = row["field_name"]
    return [f"{name}___{checkbox_code(code)}" for code in choices(row)]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NOT_CODE = re.compile(r"[^a-z_0-9]")


def checkbox_code(code: str) -> str:
    """A checkbox choice code as REDCap writes it in the export column name.

    As REDCap's `Project::getExtendedCheckboxCodeFormatted`: "-" and "." become "_"
    (so "-1" and "1" or "1.5" and "15" stay apart), the code is lower-cased (ASCII
    only, as PHP's strtolower), and every other character outside [a-z0-9_] is dropped:
    "1" -> "1", "-1" -> "_1", "1.5" -> "1_5", "Yes A" -> "yesa", "é1" -> "1".
    """
    return _NOT_CODE.sub("", code.replace("-", "_").replace(".", "_").translate(_ASCII_LOWER))


def export_columns(metadata: Sequence[Mapping[str, str]]) -> list[str]:
    """Data columns of a flat export in dictionary order: checkboxes expanded and
    `<form>_complete` after each form's last field (the id field first)."""
    cols: list[str] = []
    forms: list[str] = []
    for row in metadata:
        form = row["form_name"]
        if form not in forms:
            if forms:
                cols.append(f"{forms[-1]}_complete")
            forms.append(form)
        if row["field_type"] == "descriptive":
            continue
        cols.extend(checkbox_columns(row) or [row["field_name"]])
    if forms:
        cols.append(f"{forms[-1]}_complete")
    return cols
