"""One API call's parameters as REDCap reads them, and the refusal it may end in.

REDCap counts a flag as true only for `1` or `true` (any case), reads lists as
`name[0]`, `name[1]`... or a comma string, and reads date-time bounds as `Y-M-D` or
`Y/M/D` with optional `H:M[:S]`, an unparsable bound meaning no bound (REDCAP_API.md
§1, §5).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from registry.sandbox.project import Project
from registry.sandbox.tokens import Scope

__all__ = ["Call", "Refusal", "RowDropper", "bool_param", "invalid", "is_list_param",
           "list_param", "parse_when", "parse_window"]

RowDropper = Callable[[list[str]], list[str]]

_LIST_KEY = re.compile(r"^(\w+)\[(\d*)\]$")
_WHEN = re.compile(r"^\s*(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
                   r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?\s*$")
_EARLIEST = datetime(2004, 8, 1)
_TRUE = ("1", "true")


class Refusal(Exception):
    """The call ends in REDCap's error reply with this HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def bool_param(params: Mapping[str, str], key: str) -> bool:
    """REDCap counts a flag as true only when it is `1` or `true`, any case (§1)."""
    return params.get(key, "").strip().lower() in _TRUE


def list_param(params: Mapping[str, str], name: str) -> list[str]:
    """`name[0]`, `name[1]`... (or `name[]`) in index order, else a comma string `name`."""
    indexed: list[tuple[int, int, str]] = []
    for n, (key, value) in enumerate(params.items()):
        m = _LIST_KEY.match(key)
        if m and m.group(1) == name:
            indexed.append((int(m.group(2)) if m.group(2) else n, n, value))
    if indexed:
        return [v.strip() for _, _, v in sorted(indexed) if v.strip()]
    raw = params.get(name, "")
    return [v.strip() for v in raw.split(",") if v.strip()]


def is_list_param(params: Mapping[str, str], name: str) -> bool:
    """Whether `name` came as an array (`name[0]`...), which is how REDCap validates
    `events` (a comma string of events is not checked)."""
    return any((m := _LIST_KEY.match(k)) and m.group(1) == name for k in params)


def parse_when(raw: str, end: bool) -> datetime | None:
    m = _WHEN.match(raw or "")
    if not m:
        return None
    y, mo, d, hh, mi, ss = m.groups()
    try:
        if hh is None:
            return datetime(int(y), int(mo), int(d), *((23, 59, 59) if end else (0, 0, 0)))
        return datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0))
    except ValueError:
        return None


def parse_window(begin_raw: str, end_raw: str, now: datetime
                 ) -> tuple[datetime, datetime] | None:
    """REDCap's dateRangeBegin/End (§5): Y-M-D or Y/M/D with optional H:M[:S]; a date
    alone spans the day; one bound alone runs to now / from 2004-08-01; an unparsable
    value is no bound (no error). None means no window at all."""
    begin, end = parse_when(begin_raw, False), parse_when(end_raw, True)
    if begin is None and end is None:
        return None
    return (begin or _EARLIEST, end or now)


def invalid(param: str, bad: Sequence[str]) -> Refusal:
    """REDCap's 400 for unknown values in a list parameter (fields, forms, events)."""
    quoted = ", ".join(f"'{b}'" for b in bad)
    return Refusal(400, f'The following values in the parameter "{param}" are not valid: '
                        f"{quoted}")


class Call:
    """One authenticated API call: the project, the caller's scope, its parameters, the
    data format and the error format (`returnFormat`)."""

    def __init__(self, project: Project, scope: Scope, params: Mapping[str, str], fmt: str,
                 ret: str, drop_rows: RowDropper | None = None) -> None:
        self.project, self.scope, self.params = project, scope, params
        self.fmt, self.ret, self.drop_rows = fmt, ret, drop_rows

    def get(self, key: str) -> str:
        return self.params.get(key, "")

    def list(self, name: str) -> list[str]:
        return list_param(self.params, name)

    def flag(self, key: str) -> bool:
        return bool_param(self.params, key)
