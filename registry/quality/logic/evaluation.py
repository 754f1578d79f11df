"""A parsed expression evaluated for every row at once (`evaluate`).

Comparisons are numeric when both sides are numbers, by date when one side is a date
field, textual otherwise; a comparison with a blank is unknown unless it tests for
blank, and `and`/`or`/`not` follow three-valued logic (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from registry.quality.logic.functions import FUNCTIONS
from registry.quality.logic.syntax import COMPARE, Call, Literal, Node, Op, Ref, check_arity
from registry.quality.logic.values import (
    Env,
    Val,
    boolean,
    dates,
    from_number,
    number_or_nan,
    truth,
)

__all__ = ["evaluate"]


def evaluate(node: Node, env: Env) -> Val:
    """The value of a parsed expression for every row of the environment."""
    if isinstance(node, Literal):
        if isinstance(node.value, float):
            return from_number(np.full(env.n, node.value))
        # one text for every row: a read-only view, not n references (nothing writes
        # into a value's text)
        return Val(np.broadcast_to(np.array(node.value, dtype=object), (env.n,)),
                   np.full(env.n, number_or_nan(node.value)), np.ones(env.n, bool))
    if isinstance(node, Ref):
        return env.ref(node)
    if isinstance(node, Call):
        check_arity(node.name, len(node.args))
        return FUNCTIONS[node.name](env, node.args, [evaluate(a, env) for a in node.args])
    if node.op in ("and", "or"):
        a_true, a_known = truth(evaluate(node.args[0], env))
        b_true, b_known = truth(evaluate(node.args[1], env))
        if node.op == "and":
            false = (a_known & ~a_true) | (b_known & ~b_true)
            return boolean(a_true & b_true & ~false, false | (a_known & b_known))
        true = (a_known & a_true) | (b_known & b_true)
        return boolean(true, true | (a_known & b_known))
    if node.op == "not":
        t, known = truth(evaluate(node.args[0], env))
        return boolean(~t, known)
    if node.op == "neg":
        v = evaluate(node.args[0], env)
        return from_number(-v.num, v.known)
    if node.op in COMPARE:
        return _compare(node, env)
    a, b = (evaluate(x, env) for x in node.args)
    with np.errstate(all="ignore"):
        num = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
               "^": np.power}[node.op](a.num, b.num)
    num = np.where(np.isfinite(num), num, np.nan)
    return from_number(num, a.known & b.known)


def _compare(node: Op, env: Env) -> Val:
    left, right = node.args
    a, b = evaluate(left, env), evaluate(right, env)
    op = node.op
    blank_test = [isinstance(x, Literal) and x.value == "" for x in (left, right)]
    if op in ("=", "!=") and any(blank_test):
        other = b if blank_test[0] else a
        is_blank = other.blank
        return boolean(is_blank if op == "=" else ~is_blank, other.known)
    known = a.known & b.known & ~_blank(left, a) & ~_blank(right, b)
    numeric = np.isfinite(a.num) & np.isfinite(b.num)
    fns: dict[str, Callable[[Any, Any], Any]] = {
        "=": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
        ">": np.greater, ">=": np.greater_equal}
    with np.errstate(invalid="ignore"):
        num_result = fns[op](a.num, b.num)
    if numeric.all():
        return boolean(num_result, known)
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
    return boolean(result, known)


def _blank(node: Node, v: Val) -> np.ndarray:
    """`v.blank`; a text literal's without comparing each row's copy of it with ""."""
    if isinstance(node, Literal) and isinstance(node.value, str):
        return np.full(len(v.known), node.value == "")
    return v.blank


def _date_pair(a: Val, b: Val, env: Env) -> tuple[np.ndarray, np.ndarray] | None:
    """Dates on both sides when one side is a date field and the other a date text."""
    if a.when is None and b.when is None:
        return None
    return dates(a, env), dates(b, env)
