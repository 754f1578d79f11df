"""What changed between two REDCap data dictionaries.

A changed dictionary changes what a snapshot means: a removed field empties a column
the suites check, a renamed one breaks a study file, changed choices re-code a
variable. The pull compares each new dictionary with the one kept with the site's
last snapshot, reports the difference and forces a full pull when there is one.

A *rename* is a field that disappeared and a field that appeared on the same form with
the same type and label: REDCap has no rename operation, so that is the best evidence
the API gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DictionaryChanges", "compare_dictionaries"]

_CHOICE_TYPES = {"radio", "dropdown", "checkbox", "yesno", "truefalse", "slider"}
_VALIDATION_KEYS = (
    "text_validation_type_or_show_slider_number", "text_validation_min", "text_validation_max",
)


@dataclass(frozen=True)
class DictionaryChanges:
    """The differences between an old and a new dictionary, by field name."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # (old name, new name)
    type_changed: tuple[str, ...] = ()
    choices_changed: tuple[str, ...] = ()
    validation_changed: tuple[str, ...] = ()
    calculation_changed: tuple[str, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.renamed or self.type_changed
                    or self.choices_changed or self.validation_changed
                    or self.calculation_changed)

    def summary(self) -> str:
        """One line, e.g. `added: a, b; renamed: x -> y; choices changed: sex`."""
        parts = []
        for label, names in (("added", self.added), ("removed", self.removed),
                             ("renamed", tuple(f"{a} -> {b}" for a, b in self.renamed)),
                             ("type changed", self.type_changed),
                             ("choices changed", self.choices_changed),
                             ("validation changed", self.validation_changed),
                             ("calculation changed", self.calculation_changed)):
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        return "; ".join(parts) or "no change"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, for the store and the run report."""
        return {
            "added": list(self.added), "removed": list(self.removed),
            "renamed": [list(pair) for pair in self.renamed],
            "type_changed": list(self.type_changed),
            "choices_changed": list(self.choices_changed),
            "validation_changed": list(self.validation_changed),
            "calculation_changed": list(self.calculation_changed),
            "details": dict(self.details),
        }


def _by_name(rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(r["field_name"]): r for r in rows}


def _get(row: Mapping[str, Any], key: str) -> str:
    return str(row.get(key) or "").strip()


def _choices(row: Mapping[str, Any]) -> str:
    """Choices normalised for comparison: `1, Yes | 0, No` == `1,Yes|0,No`."""
    parts = [p.strip() for p in _get(row, "select_choices_or_calculations").split("|")]
    return " | ".join(", ".join(s.strip() for s in p.split(",", 1)) for p in parts if p)


def compare_dictionaries(old: Iterable[Mapping[str, Any]],
                         new: Iterable[Mapping[str, Any]]) -> DictionaryChanges:
    """Compare two dictionaries (REDCap metadata rows) field by field."""
    before, after = _by_name(old), _by_name(new)
    added = [n for n in after if n not in before]
    removed = [n for n in before if n not in after]

    renamed: list[tuple[str, str]] = []
    for old_name in list(removed):
        o = before[old_name]
        key = (_get(o, "form_name"), _get(o, "field_type"), _get(o, "field_label"))
        match = next((n for n in added
                      if (_get(after[n], "form_name"), _get(after[n], "field_type"),
                          _get(after[n], "field_label")) == key), None)
        if match is not None:
            renamed.append((old_name, match))
            removed.remove(old_name)
            added.remove(match)

    type_changed, choices, validation, calc = [], [], [], []
    details: dict[str, str] = {}
    pairs = [(n, n) for n in after if n in before] + renamed
    for old_name, new_name in pairs:
        o, n = before[old_name], after[new_name]
        if _get(o, "field_type") != _get(n, "field_type"):
            type_changed.append(new_name)
            details[new_name] = f"type {_get(o, 'field_type')} -> {_get(n, 'field_type')}"
            continue
        kind = _get(n, "field_type")
        if kind in _CHOICE_TYPES and _choices(o) != _choices(n):
            choices.append(new_name)
            details[new_name] = f"choices '{_choices(o)}' -> '{_choices(n)}'"
        elif kind == "calc" and _get(o, "select_choices_or_calculations") != _get(
                n, "select_choices_or_calculations"):
            calc.append(new_name)
        if any(_get(o, k) != _get(n, k) for k in _VALIDATION_KEYS):
            validation.append(new_name)
            details.setdefault(new_name, "validation " + " ".join(
                f"{_get(o, k) or '-'}->{_get(n, k) or '-'}" for k in _VALIDATION_KEYS))
    return DictionaryChanges(
        added=tuple(added), removed=tuple(removed), renamed=tuple(renamed),
        type_changed=tuple(type_changed), choices_changed=tuple(choices),
        validation_changed=tuple(validation), calculation_changed=tuple(calc),
        details=details,
    )
