"""REDCap's functions (`if`, `datediff`, `round`, text and date functions...), per row.

Each function gets its arguments already evaluated (`vals`) and, for those that take a
constant (datediff's unit and date order), the argument nodes as written. How many
arguments each takes is `syntax.ARITY`, checked before a function is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from registry.quality.logic.syntax import Literal, LogicError, Node
from registry.quality.logic.values import (
    Env,
    Val,
    boolean,
    dates,
    from_number,
    numbers,
    truth,
)

__all__ = ["FUNCTIONS", "Fn"]

#: A function of the logic: (environment, argument nodes, their values) -> its value.
Fn = Callable[[Env, Sequence[Node], Sequence[Val]], Val]
_DAYS_PER = {"y": 365.2425, "M": 30.44, "d": 1.0, "h": 1 / 24, "m": 1 / 1440, "s": 1 / 86400}


def _known(vals: Sequence[Val]) -> np.ndarray:
    return np.logical_and.reduce([v.known for v in vals])


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


def _constant(node: Node, name: str) -> str:
    if not isinstance(node, Literal):
        raise LogicError(f"{name}(): this argument must be written as a constant")
    value = node.value
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _datediff(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
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
    a, b = vals[0], vals[1]
    da, db = dates(a, env, order), dates(b, env, order)
    days = (db - da) / np.timedelta64(1, "D")
    days = np.where(np.isnat(da) | np.isnat(db), np.nan, days)
    value = days / _DAYS_PER[unit]
    return from_number(value if signed else np.abs(value), a.known & b.known)


def _if(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
    cond, a, b = vals
    t, known = truth(cond)
    num = np.where(t, a.num, b.num)
    text = np.where(t, a.text, b.text)
    return Val(text, num, known & np.where(t, a.known, b.known))


def _rounding(kind: str) -> Fn:
    def fn(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
        digits = vals[1].num if len(vals) > 1 else np.full(env.n, 0.0)
        scale = np.power(10.0, np.nan_to_num(digits))
        x = vals[0].num * scale
        if kind == "round":  # PHP's round: halves away from zero
            y = np.sign(x) * np.floor(np.abs(x) + 0.5 + 1e-9)
        else:
            y = np.ceil(x - 1e-9) if kind == "roundup" else np.floor(x + 1e-9)
        return from_number(y / scale, vals[0].known)
    return fn


def _unary(f: Callable[[np.ndarray], np.ndarray]) -> Fn:
    def fn(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
        with np.errstate(all="ignore"):
            out = f(vals[0].num)
        return from_number(_finite(out), vals[0].known)
    return fn


def _log(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
    with np.errstate(all="ignore"):
        out = np.log(vals[0].num)
        if len(vals) > 1:
            out = out / np.log(vals[1].num)
    return from_number(_finite(out), vals[0].known)


def _mod(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
    a, b = vals
    with np.errstate(all="ignore"):
        out = np.fmod(a.num, b.num)
    return from_number(_finite(out), a.known & b.known)


def _aggregate(f: Callable[[np.ndarray], np.ndarray]) -> Fn:
    def fn(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
        stack = np.column_stack([v.num for v in vals])
        out = np.full(env.n, np.nan)
        some = ~np.isnan(stack).all(axis=1)  # blanks are ignored; all blank -> blank
        if some.any():
            with np.errstate(all="ignore"):
                out[some] = f(stack[some])
        return from_number(out, _known(vals))
    return fn


def _text_fn(f: Callable[..., Any], numeric: bool = False) -> Fn:
    def fn(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
        rows = zip(*(v.text for v in vals), strict=True)
        out = [f(*row) for row in rows]
        if numeric:
            return from_number(np.array(out, dtype="float64"), _known(vals))
        text = np.array(out, dtype=object)
        return Val(text, numbers(text), _known(vals))
    return fn


def _int(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        return 0


def _date_part(attr: str) -> Fn:
    def fn(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
        d = pd.Series(dates(vals[0], env))
        return from_number(getattr(d.dt, attr).to_numpy("float64", na_value=np.nan),
                           vals[0].known)
    return fn


def _is(test: Callable[[Val], np.ndarray]) -> Fn:
    def fn(env: Env, args: Sequence[Node], vals: Sequence[Val]) -> Val:
        return boolean(test(vals[0]), vals[0].known)
    return fn


FUNCTIONS: dict[str, Fn] = {
    "if": _if,
    "datediff": _datediff,
    "round": _rounding("round"),
    "roundup": _rounding("roundup"),
    "rounddown": _rounding("rounddown"),
    "sqrt": _unary(np.sqrt),
    "abs": _unary(np.abs),
    "exp": _unary(np.exp),
    "log": _log,
    "mod": _mod,
    "min": _aggregate(lambda a: np.nanmin(a, axis=1)),
    "max": _aggregate(lambda a: np.nanmax(a, axis=1)),
    "mean": _aggregate(lambda a: np.nanmean(a, axis=1)),
    "median": _aggregate(lambda a: np.nanmedian(a, axis=1)),
    "sum": _aggregate(lambda a: np.nansum(a, axis=1)),
    "stdev": _aggregate(lambda a: np.nanstd(a, axis=1, ddof=1)),
    "isnumber": _is(lambda v: np.isfinite(v.num)),
    "isinteger": _is(lambda v: np.isfinite(v.num) & (np.mod(v.num, 1) == 0)),
    "isblankormissingcode": _is(lambda v: v.blank),
    "contains": _text_fn(lambda h, n: float(n.lower() in h.lower()), True),
    "not_contain": _text_fn(lambda h, n: float(n.lower() not in h.lower()), True),
    "starts_with": _text_fn(lambda h, n: float(h.lower().startswith(n.lower())), True),
    "ends_with": _text_fn(lambda h, n: float(h.lower().endswith(n.lower())), True),
    "left": _text_fn(lambda t, k: t[:max(_int(k), 0)]),
    "right": _text_fn(lambda t, k: t[-_int(k):] if _int(k) > 0 else ""),
    "mid": _text_fn(lambda t, s, k: t[max(_int(s) - 1, 0):max(_int(s) - 1, 0)
                                      + max(_int(k), 0)]),
    "length": _text_fn(lambda t: float(len(t)), True),
    "find": _text_fn(lambda n, h: float(h.lower().find(n.lower()) + 1), True),
    "concat": _text_fn(lambda *parts: "".join(map(str, parts))),
    "upper": _text_fn(str.upper),
    "lower": _text_fn(str.lower),
    "trim": _text_fn(str.strip),
    "year": _date_part("year"),
    "month": _date_part("month"),
    "day": _date_part("day"),
}
