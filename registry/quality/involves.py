"""Which fields of the dictionary a rule reads: what a coordinator may have to correct.

A rule compares columns of a frame: dictionary fields, the profile's cross-form
columns (built from other fields: `end_date` = the first of two dates) and the
dictionary-derived helper columns (`show__<field>`, `calc__<field>`,
`checked__<field>`, checkbox columns `<field>___<code>`). `rule_fields` resolves all
of them to the fields they come from, so the site report can tell that one wrong cell
(the field most of a record's flags read) explains many flags. Everything comes from
the rule, the profile and the dictionary: no field name is known here.
"""

from __future__ import annotations

from collections.abc import Mapping

from registry.profile import ColumnSpec, Profile
from registry.quality.gx_adapter import columns_of
from registry.quality.suites import Rule

__all__ = ["column_sources", "rule_fields"]

_HELPERS = ("show__", "calc__", "checked__")


def column_sources(profile: Profile | None) -> dict[str, tuple[str, ...]]:
    """Each cross-form column of the profile -> the fields it is computed from."""
    out: dict[str, tuple[str, ...]] = {}
    if profile is None:
        return out
    for col in profile.columns:  # declared in order: a column only uses earlier ones
        out[col.name] = _sources(col, profile, out)
    return out


def _sources(col: ColumnSpec, profile: Profile, known: Mapping[str, tuple[str, ...]]
             ) -> tuple[str, ...]:
    names: list[str] = []
    ref = profile.source_of(col)
    if ref is not None:
        names.append(ref.field)
    for name in (*col.columns, col.from_, col.to, col.order_by, col.column, col.at,
                 col.start, col.end):
        if name:
            names.extend(known.get(name, (name,)))
    return tuple(dict.fromkeys(names))


def rule_fields(rule: Rule, fields: Mapping[str, object],
                sources: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The dictionary fields `rule` reads, its own field first (`fields`: name -> any)."""
    out: list[str] = []
    for col in (rule.field, *columns_of(rule)):
        if not col:
            continue
        for prefix in _HELPERS:
            if col.startswith(prefix):
                col = col[len(prefix):]
        base = col.split("___")[0]
        if base in fields:
            out.append(base)
        else:
            out.extend(f for f in sources.get(col, ()) if f in fields)
    return tuple(dict.fromkeys(out))
