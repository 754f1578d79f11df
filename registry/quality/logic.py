"""REDCap's logic language (branching logic, calculations), parsed and evaluated per column.

`parse(text)` reads branching logic or a calculation into a small tree; `evaluate(node,
env)` computes it for every row of a frame at once. What a field reference means (the
same row, another form, another event, another instance) is the environment's business
(`registry.quality.branching.RecordEnv`); this module only knows the language:

- references `[field]`, `[field(code)]` (a checkbox choice, "1"/"0"), `[event][field]`,
  `[field][2]`, `[field][last-instance]` and the smart variables `[event-name]`,
  `[previous-event-name]`, `[next-event-name]`, `[first-event-name]`,
  `[last-event-name]`, `[arm-number]`, `[record-name]`, `[current-instance]`;
- numbers, 'text' or "text", `true`/`false`; `+ - * / ^`; `= == <> != < <= > >=`;
  `and`/`or` (also `&&`/`||`), `not`/`!`; parentheses;
- REDCap's functions: `if`, `datediff`, `round`, `roundup`, `rounddown`, `sqrt`,
  `abs`, `exp`, `log`, `mod`, `min`, `max`, `mean`, `median`, `sum`, `stdev`,
  `isnumber`, `isinteger`, `isblankormissingcode`, `contains`, `not_contain`,
  `starts_with`, `ends_with`, `left`, `right`, `mid`, `length`, `find`, `concat`,
  `upper`, `lower`, `trim`, `year`, `month`, `day`.

Values follow REDCap: every value is text; a comparison is numeric when both sides are
numbers and textual otherwise (so `[visit] > '2020-01-01'` compares Y-M-D dates);
arithmetic on a blank is blank. One deliberate difference: a comparison with a blank
field is *unknown* (neither true nor false) unless it tests for blank (`[x] = ''`), and
`and`/`or` follow three-valued logic, so one missing answer is flagged itself instead
of cascading into every field it controls.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

__all__ = ["Call", "Env", "Literal", "LogicError", "Node", "Op", "Ref", "Val", "evaluate",
           "parse", "refs"]


class LogicError(ValueError):
    """The logic cannot be read, or uses something this reader does not support."""


@dataclass(frozen=True)
class Literal:
    """A number or a quoted text."""

    value: float | str


@dataclass(frozen=True)
class Ref:
    """A bracketed reference: its bracket parts in order, e.g. ("visit_1_arm_1", "weight")."""

    parts: tuple[str, ...]


@dataclass(frozen=True)
class Op:
    """An operator applied to one (unary) or two operands."""

    op: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Call:
    """A function call: `datediff([a], [b], "d")`."""

    name: str
    args: tuple[Node, ...]


Node = Literal | Ref | Op | Call

_TOKEN = re.compile(r"""\s*(?:
    (?P<ref>\[[^\[\]]+\])
  | (?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<op><>|!=|<=|>=|==|&&|\|\||=|<|>|\+|-|\*|/|\^|!|,|\(|\))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
)""", re.VERBOSE)
_COMPARE = ("=", "!=", "<", "<=", ">", ">=")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise LogicError(f"cannot read the logic at {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def parse(text: str) -> Node:
    """Parse REDCap logic or a calculation; raises LogicError naming what is wrong."""
    toks = _tokens(text)
    if not toks:
        raise LogicError("the logic is empty")
    pos = 0

    def peek(k: int = 0) -> tuple[str, str]:
        return toks[pos + k] if pos + k < len(toks) else ("", "")

    def take(value: str) -> bool:
        nonlocal pos
        kind, val = peek()
        if (kind == "op" and val == value) or (kind == "word" and val.lower() == value):
            pos += 1
            return True
        return False

    def expect(value: str) -> None:
        if not take(value):
            found = peek()[1] or "the end"
            raise LogicError(f"expected {value!r} but found {found!r} in {text!r}")

    def disjunction() -> Node:
        node = conjunction()
        while take("or") or take("||"):
            node = Op("or", (node, conjunction()))
        return node

    def conjunction() -> Node:
        node = negation()
        while take("and") or take("&&"):
            node = Op("and", (node, negation()))
        return node

    def negation() -> Node:
        if take("not") or take("!"):
            return Op("not", (negation(),))
        return comparison()

    def comparison() -> Node:
        node = additive()
        kind, val = peek()
        if kind == "op" and val in ("=", "==", "<>", "!=", "<", "<=", ">", ">="):
            nonlocal pos
            pos += 1
            op = {"==": "=", "<>": "!="}.get(val, val)
            node = Op(op, (node, additive()))
        return node

    def additive() -> Node:
        node = multiplicative()
        while True:
            if take("+"):
                node = Op("+", (node, multiplicative()))
            elif take("-"):
                node = Op("-", (node, multiplicative()))
            else:
                return node

    def multiplicative() -> Node:
        node = power()
        while True:
            if take("*"):
                node = Op("*", (node, power()))
            elif take("/"):
                node = Op("/", (node, power()))
            else:
                return node

    def power() -> Node:
        node = unary()
        if take("^"):
            return Op("^", (node, power()))
        return node

    def unary() -> Node:
        if take("-"):
            return Op("neg", (unary(),))
        if take("+"):
            return unary()
        return primary()

    def primary() -> Node:
        nonlocal pos
        kind, val = peek()
        if kind == "op" and val == "(":
            pos += 1
            inner = disjunction()
            expect(")")
            return inner
        if kind == "num":
            pos += 1
            return Literal(float(val))
        if kind == "str":
            pos += 1
            return Literal(val[1:-1])
        if kind == "ref":
            parts = []
            while peek()[0] == "ref":
                parts.append(peek()[1][1:-1].strip())
                pos += 1
            return Ref(tuple(parts))
        if kind == "word":
            pos += 1
            if val.lower() in ("true", "false"):
                return Literal(1.0 if val.lower() == "true" else 0.0)
            if peek() != ("op", "("):
                raise LogicError(f"unexpected word {val!r} in {text!r}")
            name = val.lower()
            if name not in FUNCTIONS:
                raise LogicError(f"function {val}() is not supported (in {text!r})")
            pos += 1
            args: list[Node] = []
            if not take(")"):
                args.append(disjunction())
                while take(","):
                    args.append(disjunction())
                expect(")")
            lo, hi = _ARITY.get(name, (1, 99))
            if not lo <= len(args) <= hi:
                want = str(lo) if lo == hi else f"{lo} to {hi}"
                raise LogicError(f"{name}() takes {want} arguments, not {len(args)} "
                                 f"(in {text!r})")
            return Call(name, tuple(args))
        raise LogicError(f"unexpected {val or 'end'!r} in {text!r}")

    node = disjunction()
    if pos != len(toks):
        raise LogicError(f"unexpected {toks[pos][1]!r} in {text!r}")
    return node


def refs(node: Node) -> list[Ref]:
    """Every reference of the tree, in reading order."""
    if isinstance(node, Ref):
        return [node]
    if isinstance(node, Op | Call):
        return [r for a in node.args for r in refs(a)]
    return []


# --- values ------------------------------------------------------------------------


@dataclass
class Val:
    """One value per row: REDCap's text, its number (NaN when not numeric), whether it is
    known. `when` holds datetime64 values for date fields (so date logic need not
    re-read text); a blank is text "". The text of a number or a date is only written
    out when something reads it.
    """

    text_: np.ndarray | None
    num: np.ndarray
    known: np.ndarray
    when: np.ndarray | None = None
    unit: str = "D"

    @property
    def text(self) -> np.ndarray:
        if self.text_ is None:
            self.text_ = (_date_text(self.when, self.unit) if self.when is not None
                          else _num_text(self.num))
        return self.text_

    @property
    def blank(self) -> np.ndarray:
        if self.text_ is not None:
            return self.text_ == ""
        if self.when is not None:
            return np.isnat(self.when)
        return np.isnan(self.num)


def _num_text(num: np.ndarray) -> np.ndarray:
    out = np.full(len(num), "", dtype=object)
    finite = np.isfinite(num)
    codes, uniques = pd.factorize(num[finite])
    texts = np.array([repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(float(v))
                      for v in uniques], dtype=object)
    out[finite] = texts[codes] if len(uniques) else out[finite]
    return out


def numbers(text: np.ndarray) -> np.ndarray:
    """REDCap's "is it a number": the numeric value of each text, NaN otherwise."""
    codes, uniques = pd.factorize(pd.Series(text, dtype=object))
    values = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(
        "float64", na_value=np.nan)
    out = np.full(len(text), np.nan)
    ok = codes >= 0
    out[ok] = values[codes[ok]]
    return out


def from_text(text: np.ndarray) -> Val:
    """A Val from REDCap text ("" blank)."""
    text = np.asarray(text, dtype=object)
    return Val(text, numbers(text), np.ones(len(text), dtype=bool))


def from_number(num: np.ndarray, known: np.ndarray | None = None) -> Val:
    num = np.asarray(num, dtype="float64")
    return Val(None, num, np.ones(len(num), bool) if known is None else known)


def from_dates(when: np.ndarray, unit: str = "D") -> Val:
    """A Val from datetime64 values, written as REDCap stores them (Y-M-D[ H:M[:S]])."""
    when = np.asarray(when, dtype="datetime64[ns]")
    return Val(None, np.full(len(when), np.nan), np.ones(len(when), bool), when, unit)


def _date_text(when: np.ndarray, unit: str) -> np.ndarray:
    text = np.full(len(when), "", dtype=object)
    ok = ~np.isnat(when)
    if ok.any():
        written = np.datetime_as_string(when[ok], unit=unit)  # type: ignore[call-overload]
        text[ok] = np.char.replace(written, "T", " ")
    return text


def _bool(values: np.ndarray, known: np.ndarray) -> Val:
    return Val(None, np.where(values, 1.0, 0.0), known)


def truth(v: Val) -> tuple[np.ndarray, np.ndarray]:
    """(true, known): a number is true when not 0, a text when not blank and not "0"."""
    num_ok = np.isfinite(v.num)
    if num_ok.all() or (v.text_ is None and v.when is None):
        return num_ok & (v.num != 0), v.known & num_ok
    true = np.where(num_ok, v.num != 0, (v.text != "") & (v.text != "0"))
    return true.astype(bool), v.known & (num_ok | ~v.blank)


class Env(Protocol):
    """What the evaluator needs from its surroundings."""

    n: int
    today: pd.Timestamp
    now: pd.Timestamp

    def ref(self, ref: Ref) -> Val:
        """The per-row value of a bracketed reference."""


def evaluate(node: Node, env: Env) -> Val:
    """The value of a parsed expression for every row of the environment."""
    if isinstance(node, Literal):
        if isinstance(node.value, float):
            return from_number(np.full(env.n, node.value))
        return Val(np.full(env.n, node.value, dtype=object),
                   np.full(env.n, _number_or_nan(node.value)), np.ones(env.n, bool))
    if isinstance(node, Ref):
        return env.ref(node)
    if isinstance(node, Call):
        return FUNCTIONS[node.name](env, node.args)
    if node.op in ("and", "or"):
        a_true, a_known = truth(evaluate(node.args[0], env))
        b_true, b_known = truth(evaluate(node.args[1], env))
        if node.op == "and":
            false = (a_known & ~a_true) | (b_known & ~b_true)
            return _bool(a_true & b_true & ~false, false | (a_known & b_known))
        true = (a_known & a_true) | (b_known & b_true)
        return _bool(true, true | (a_known & b_known))
    if node.op == "not":
        t, known = truth(evaluate(node.args[0], env))
        return _bool(~t, known)
    if node.op == "neg":
        v = evaluate(node.args[0], env)
        return from_number(-v.num, v.known)
    if node.op in _COMPARE:
        return _compare(node, env)
    a, b = (evaluate(x, env) for x in node.args)
    with np.errstate(all="ignore"):
        num = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
               "^": np.power}[node.op](a.num, b.num)
    num = np.where(np.isfinite(num), num, np.nan)
    return from_number(num, a.known & b.known)


def _number_or_nan(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) and text.strip() == text and text else math.nan


def _compare(node: Op, env: Env) -> Val:
    left, right = node.args
    a, b = evaluate(left, env), evaluate(right, env)
    op = node.op
    blank_test = [isinstance(x, Literal) and x.value == "" for x in (left, right)]
    if op in ("=", "!=") and any(blank_test):
        other = b if blank_test[0] else a
        is_blank = other.blank
        return _bool(is_blank if op == "=" else ~is_blank, other.known)
    known = a.known & b.known & ~a.blank & ~b.blank
    numeric = np.isfinite(a.num) & np.isfinite(b.num)
    fns: dict[str, Callable[[Any, Any], Any]] = {
        "=": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
        ">": np.greater, ">=": np.greater_equal}
    with np.errstate(invalid="ignore"):
        num_result = fns[op](a.num, b.num)
    if numeric.all():
        return _bool(num_result, known)
    dates = _date_pair(a, b, env)
    if dates is not None:
        da, db = dates
        both = ~np.isnat(da) & ~np.isnat(db)
        date_result = np.zeros(len(da), bool)
        date_result[both] = fns[op](da[both], db[both])
        text_rows = ~numeric & ~both
        result = np.where(numeric, num_result, date_result)
    else:
        text_rows = ~numeric
        result = num_result
    if text_rows.any():
        result = result.copy()
        result[text_rows] = fns[op](a.text[text_rows].astype(str),
                                    b.text[text_rows].astype(str))
    return _bool(result, known)


def _date_pair(a: Val, b: Val, env: Env) -> tuple[np.ndarray, np.ndarray] | None:
    """Dates on both sides when one side is a date field and the other a date text."""
    if a.when is None and b.when is None:
        return None
    return _dates(a, env), _dates(b, env)


_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%m-%d-%Y", "%d-%m-%Y",
                 "%m/%d/%Y", "%d/%m/%Y", "%H:%M", "%H:%M:%S")


def _dates(v: Val, env: Env, order: str = "ymd") -> np.ndarray:
    """datetime64 per row: a date field's own dates, or text read as a date ('today',
    'now', Y-M-D, or the M-D-Y / D-M-Y order datediff was told)."""
    if v.when is not None:
        return v.when
    codes, uniques = pd.factorize(pd.Series(v.text, dtype=object))
    formats: tuple[str, ...] = _DATE_FORMATS
    if order in ("mdy", "dmy"):
        formats = tuple(f for f in _DATE_FORMATS if f.startswith(f"%{order[0]}")) + formats
    values = np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[ns]")
    for i, text in enumerate(uniques):
        word = str(text).strip().lower()
        if word in ("today", "now"):
            values[i] = np.datetime64(env.today if word == "today" else env.now, "ns")
            continue
        for fmt in formats:
            stamp = pd.to_datetime(str(text).strip(), format=fmt, errors="coerce")
            if not pd.isna(stamp):
                values[i] = np.datetime64(stamp, "ns")
                break
    out = np.full(len(codes), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = codes >= 0
    out[ok] = values[codes[ok]]
    return out


# --- functions ---------------------------------------------------------------------

Fn = Callable[[Env, Sequence[Node]], Val]
_DAYS_PER = {"y": 365.2425, "M": 30.44, "d": 1.0, "h": 1 / 24, "m": 1 / 1440, "s": 1 / 86400}


def _args(env: Env, args: Sequence[Node], lo: int, hi: int, name: str) -> list[Val]:
    if not lo <= len(args) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise LogicError(f"{name}() takes {want} arguments, not {len(args)}")
    return [evaluate(a, env) for a in args]


def _constant(node: Node, name: str) -> str:
    if not isinstance(node, Literal):
        raise LogicError(f"{name}(): this argument must be written as a constant")
    value = node.value
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _datediff(env: Env, args: Sequence[Node]) -> Val:
    if not 3 <= len(args) <= 5:
        raise LogicError(f"datediff() takes 3 to 5 arguments, not {len(args)}")
    unit = _constant(args[2], "datediff")
    if unit not in _DAYS_PER:
        raise LogicError(f"datediff(): unit {unit!r} is not one of y, M, d, h, m, s")
    order, signed = "ymd", False
    for extra in args[3:]:
        word = _constant(extra, "datediff").lower()
        if word in ("ymd", "mdy", "dmy"):
            order = word
        elif word in ("true", "false", "1", "0"):
            signed = word in ("true", "1")
        else:
            raise LogicError(f"datediff(): {word!r} is neither a date order nor true/false")
    a, b = evaluate(args[0], env), evaluate(args[1], env)
    da, db = _dates(a, env, order), _dates(b, env, order)
    days = (db - da) / np.timedelta64(1, "D")
    days = np.where(np.isnat(da) | np.isnat(db), np.nan, days)
    value = days / _DAYS_PER[unit]
    return from_number(value if signed else np.abs(value), a.known & b.known)


def _if(env: Env, args: Sequence[Node]) -> Val:
    cond, a, b = _args(env, args, 3, 3, "if")
    t, known = truth(cond)
    num = np.where(t, a.num, b.num)
    text = np.where(t, a.text, b.text)
    return Val(text, num, known & np.where(t, a.known, b.known))


def _rounding(kind: str) -> Fn:
    def fn(env: Env, args: Sequence[Node]) -> Val:
        vals = _args(env, args, 1, 2, kind)
        digits = vals[1].num if len(vals) > 1 else np.full(env.n, 0.0)
        scale = np.power(10.0, np.nan_to_num(digits))
        x = vals[0].num * scale
        if kind == "round":  # PHP's round: halves away from zero
            y = np.sign(x) * np.floor(np.abs(x) + 0.5 + 1e-9)
        else:
            y = np.ceil(x - 1e-9) if kind == "roundup" else np.floor(x + 1e-9)
        return from_number(y / scale, vals[0].known)
    return fn


def _unary(name: str, f: Callable[[np.ndarray], np.ndarray]) -> Fn:
    def fn(env: Env, args: Sequence[Node]) -> Val:
        (v,) = _args(env, args, 1, 1, name)
        with np.errstate(all="ignore"):
            out = f(v.num)
        return from_number(np.where(np.isfinite(out), out, np.nan), v.known)
    return fn


def _log(env: Env, args: Sequence[Node]) -> Val:
    vals = _args(env, args, 1, 2, "log")
    with np.errstate(all="ignore"):
        out = np.log(vals[0].num)
        if len(vals) > 1:
            out = out / np.log(vals[1].num)
    return from_number(np.where(np.isfinite(out), out, np.nan), vals[0].known)


def _mod(env: Env, args: Sequence[Node]) -> Val:
    a, b = _args(env, args, 2, 2, "mod")
    with np.errstate(all="ignore"):
        out = np.fmod(a.num, b.num)
    return from_number(np.where(np.isfinite(out), out, np.nan), a.known & b.known)


def _aggregate(name: str, f: Callable[[np.ndarray], np.ndarray]) -> Fn:
    def fn(env: Env, args: Sequence[Node]) -> Val:
        if not args:
            raise LogicError(f"{name}() needs at least one argument")
        vals = [evaluate(a, env) for a in args]
        stack = np.column_stack([v.num for v in vals])
        known = np.logical_and.reduce([v.known for v in vals])
        out = np.full(env.n, np.nan)
        some = ~np.isnan(stack).all(axis=1)  # blanks are ignored; all blank -> blank
        if some.any():
            with np.errstate(all="ignore"):
                out[some] = f(stack[some])
        return from_number(out, known)
    return fn


def _text_fn(name: str, n: int, f: Callable[..., Any], numeric: bool = False) -> Fn:
    def fn(env: Env, args: Sequence[Node]) -> Val:
        vals = _args(env, args, n, n, name)
        rows = zip(*(v.text for v in vals), strict=True)
        out = [f(*row) for row in rows]
        known = np.logical_and.reduce([v.known for v in vals])
        if numeric:
            return from_number(np.array(out, dtype="float64"), known)
        return Val(np.array(out, dtype=object), numbers(np.array(out, dtype=object)), known)
    return fn


def _int(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        return 0


def _concat(env: Env, args: Sequence[Node]) -> Val:
    vals = [evaluate(a, env) for a in args]
    out = np.array(["".join(map(str, row)) for row in zip(*(v.text for v in vals),
                                                          strict=True)], dtype=object)
    return Val(out, numbers(out), np.logical_and.reduce([v.known for v in vals]))


def _date_part(name: str, attr: str) -> Fn:
    def fn(env: Env, args: Sequence[Node]) -> Val:
        (v,) = _args(env, args, 1, 1, name)
        d = pd.Series(_dates(v, env))
        return from_number(getattr(d.dt, attr).to_numpy("float64", na_value=np.nan),
                           v.known)
    return fn


def _is(name: str, test: Callable[[Val], np.ndarray]) -> Fn:
    def fn(env: Env, args: Sequence[Node]) -> Val:
        (v,) = _args(env, args, 1, 1, name)
        return _bool(test(v), v.known)
    return fn


#: How many arguments each function takes (checked when the logic is read).
_ARITY = {"if": (3, 3), "datediff": (3, 5), "round": (1, 2), "roundup": (1, 2),
          "rounddown": (1, 2), "sqrt": (1, 1), "abs": (1, 1), "exp": (1, 1), "log": (1, 2),
          "mod": (2, 2), "isnumber": (1, 1), "isinteger": (1, 1),
          "isblankormissingcode": (1, 1), "contains": (2, 2), "not_contain": (2, 2),
          "starts_with": (2, 2), "ends_with": (2, 2), "left": (2, 2), "right": (2, 2),
          "mid": (3, 3), "length": (1, 1), "find": (2, 2), "upper": (1, 1), "lower": (1, 1),
          "trim": (1, 1), "year": (1, 1), "month": (1, 1), "day": (1, 1)}

FUNCTIONS: dict[str, Fn] = {
    "if": _if,
    "datediff": _datediff,
    "round": _rounding("round"),
    "roundup": _rounding("roundup"),
    "rounddown": _rounding("rounddown"),
    "sqrt": _unary("sqrt", np.sqrt),
    "abs": _unary("abs", np.abs),
    "exp": _unary("exp", np.exp),
    "log": _log,
    "mod": _mod,
    "min": _aggregate("min", lambda a: np.nanmin(a, axis=1)),
    "max": _aggregate("max", lambda a: np.nanmax(a, axis=1)),
    "mean": _aggregate("mean", lambda a: np.nanmean(a, axis=1)),
    "median": _aggregate("median", lambda a: np.nanmedian(a, axis=1)),
    "sum": _aggregate("sum", lambda a: np.nansum(a, axis=1)),
    "stdev": _aggregate("stdev", lambda a: np.nanstd(a, axis=1, ddof=1)),
    "isnumber": _is("isnumber", lambda v: np.isfinite(v.num)),
    "isinteger": _is("isinteger", lambda v: np.isfinite(v.num) & (np.mod(v.num, 1) == 0)),
    "isblankormissingcode": _is("isblankormissingcode", lambda v: v.blank),
    "contains": _text_fn("contains", 2, lambda h, n: float(n.lower() in h.lower()), True),
    "not_contain": _text_fn("not_contain", 2, lambda h, n: float(n.lower() not in h.lower()),
                            True),
    "starts_with": _text_fn("starts_with", 2,
                            lambda h, n: float(h.lower().startswith(n.lower())), True),
    "ends_with": _text_fn("ends_with", 2, lambda h, n: float(h.lower().endswith(n.lower())),
                          True),
    "left": _text_fn("left", 2, lambda t, k: t[:max(_int(k), 0)]),
    "right": _text_fn("right", 2, lambda t, k: t[-_int(k):] if _int(k) > 0 else ""),
    "mid": _text_fn("mid", 3, lambda t, s, k: t[max(_int(s) - 1, 0):max(_int(s) - 1, 0)
                                                + max(_int(k), 0)]),
    "length": _text_fn("length", 1, lambda t: float(len(t)), True),
    "find": _text_fn("find", 2, lambda n, h: float(h.lower().find(n.lower()) + 1), True),
    "concat": _concat,
    "upper": _text_fn("upper", 1, str.upper),
    "lower": _text_fn("lower", 1, str.lower),
    "trim": _text_fn("trim", 1, str.strip),
    "year": _date_part("year", "year"),
    "month": _date_part("month", "month"),
    "day": _date_part("day", "day"),
}
