"""REDCap branching logic -> a per-row "shown" column (True / False / NA).

Only the subset the dictionary uses is read (a clear error otherwise):
`[field] = 'value'`, `<>`, `!=`, `<`, `<=`, `>`, `>=`, checkbox `[field(code)]`,
numbers, `''` (empty), `and`, `or`, parentheses. Literals are turned into the tidy
value of the field (a choice code into its label, '1'/'0' of a yes/no into True/False)
so the logic evaluates on the typed frames. A row whose controlling field is empty
gets NA: neither "shown" nor "hidden", so one missing answer does not cascade into
flags on the fields it controls (the missing answer is flagged itself).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

__all__ = ["BranchingError", "Logic", "describe", "evaluate", "parse"]

_TOKEN = re.compile(r"""\s*(?:
    (?P<field>\[[A-Za-z0-9_]+(?:\([A-Za-z0-9_-]+\))?\])
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<word>and|or)\b
  | (?P<paren>[()])
)""", re.VERBOSE | re.IGNORECASE)


class BranchingError(ValueError):
    """The branching logic uses syntax this reader does not support."""


@dataclass(frozen=True)
class Logic:
    """A parsed expression: a comparison (field, code, op, literal) or an and/or node."""

    kind: str  # "cmp", "and", "or"
    field: str = ""
    code: str = ""
    op: str = ""
    value: str = ""
    parts: tuple[Logic, ...] = ()

    def fields(self) -> set[str]:
        """Names of the fields the logic reads."""
        if self.kind == "cmp":
            return {self.field}
        return set().union(*(p.fields() for p in self.parts))


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise BranchingError(f"cannot read branching logic at {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def parse(text: str) -> Logic:
    """Parse REDCap branching logic; raises BranchingError on unsupported syntax."""
    toks = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str]:
        return toks[pos] if pos < len(toks) else ("", "")

    def expr(level: str) -> Logic:
        nonlocal pos
        sub = "and" if level == "or" else "atom"
        parts = [expr(sub) if sub == "and" else atom()]
        while peek()[0] == "word" and peek()[1].lower() == level:
            pos += 1
            parts.append(expr(sub) if sub == "and" else atom())
        return parts[0] if len(parts) == 1 else Logic(kind=level, parts=tuple(parts))

    def atom() -> Logic:
        nonlocal pos
        kind, val = peek()
        if kind == "paren" and val == "(":
            pos += 1
            inner = expr("or")
            if peek() != ("paren", ")"):
                raise BranchingError(f"unbalanced parentheses in {text!r}")
            pos += 1
            return inner
        if kind != "field":
            raise BranchingError(f"expected [field] = 'value' in {text!r}")
        ref = val[1:-1]
        name, _, code = ref.partition("(")
        pos += 1
        okind, op = peek()
        if okind != "op":
            raise BranchingError(f"expected a comparison after [{ref}] in {text!r}")
        pos += 1
        lkind, lit = peek()
        if lkind not in ("str", "num"):
            raise BranchingError(f"expected a value after [{ref}] {op} in {text!r}")
        pos += 1
        literal = lit[1:-1] if lkind == "str" else lit
        return Logic(kind="cmp", field=name, code=code.rstrip(")"),
                     op="!=" if op == "<>" else op, value=literal)

    result = expr("or")
    if pos != len(toks):
        raise BranchingError(f"unexpected {toks[pos][1]!r} in {text!r}")
    return result


def _choices(meta: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for part in meta.get("select_choices_or_calculations", "").split("|"):
        code, sep, label = part.partition(",")
        if sep:
            out[code.strip()] = label.strip()
    return out


def _literal(meta: Mapping[str, str], value: str) -> object:
    ftype = meta.get("field_type", "")
    validation = meta.get("text_validation_type_or_show_slider_number", "")
    if ftype in ("yesno", "truefalse"):
        return {"1": True, "0": False}.get(value, value)
    if ftype in ("radio", "dropdown"):
        return _choices(meta).get(value, value)
    if validation in ("integer", "number") or ftype == "calc":
        return float(value)
    if validation.startswith("date"):
        return pd.Timestamp(value)
    return value


def evaluate(logic: Logic, frame: pd.DataFrame,
             dictionary: Mapping[str, Mapping[str, str]]) -> pd.Series:
    """Per-row truth of the logic on a tidy frame (boolean with NA where unknowable).

    Raises BranchingError when the logic reads a field the frame does not hold.
    """
    if logic.kind in ("and", "or"):
        parts = [evaluate(p, frame, dictionary) for p in logic.parts]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if logic.kind == "and" else (out | p)
        return out.astype("boolean")
    meta = dictionary.get(logic.field)
    if meta is None:
        raise BranchingError(f"branching logic names unknown field [{logic.field}]")
    column = f"{logic.field}___{logic.code}" if logic.code else logic.field
    if column not in frame.columns:
        raise BranchingError(f"branching logic reads [{logic.field}], not on this form")
    series = frame[column]
    if logic.value == "" and logic.op in ("=", "!="):
        empty = series.isna()
        return (empty if logic.op == "=" else ~empty).astype("boolean")
    if logic.code:
        literal: object = {"1": True, "0": False}.get(logic.value, logic.value)
    else:
        literal = _literal(meta, logic.value)
    if isinstance(literal, float):
        series = pd.to_numeric(series, errors="coerce")
    ops = {"=": series.__eq__, "!=": series.__ne__, "<": series.__lt__,
           "<=": series.__le__, ">": series.__gt__, ">=": series.__ge__}
    result = pd.Series(ops[logic.op](literal), index=frame.index).astype("boolean")
    return result.mask(series.isna())  # unknown where the value is missing


def describe(logic: Logic, dictionary: Mapping[str, Mapping[str, str]]) -> str:
    """The logic in words for a coordinator: "Still taken at last follow-up? is No"."""
    if logic.kind != "cmp":
        joiner = " and " if logic.kind == "and" else " or "
        return joiner.join(describe(p, dictionary) for p in logic.parts)
    meta = dictionary.get(logic.field, {})
    label = meta.get("field_label", logic.field) or logic.field
    if logic.code:
        label = f"{label}: {_choices(meta).get(logic.code, logic.code)} ticked"
        return label if logic.value == "1" else f"not ({label})"
    value = _literal(meta, logic.value) if logic.value else "empty"
    if isinstance(value, bool):
        value = "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    words = {"=": "is", "!=": "is not", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
    return f"{label} {words[logic.op]} {value}"
