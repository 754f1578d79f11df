"""REDCap's logic language read into a tree: tokens, `parse`, the node types, `refs`.

Which functions exist and how many arguments each takes lives here too (`ARITY`), so
that logic naming an unknown function or the wrong number of arguments is refused when
it is read, before any row is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ARITY", "COMPARE", "Call", "Literal", "LogicError", "Node", "Op", "Ref",
           "check_arity", "parse", "refs"]

#: How many arguments each of REDCap's functions takes (at least, at most).
VARIADIC = (1, 99)
ARITY: dict[str, tuple[int, int]] = {
    "if": (3, 3), "datediff": (3, 5), "round": (1, 2), "roundup": (1, 2),
    "rounddown": (1, 2), "sqrt": (1, 1), "abs": (1, 1), "exp": (1, 1), "log": (1, 2),
    "mod": (2, 2), "min": VARIADIC, "max": VARIADIC, "mean": VARIADIC,
    "median": VARIADIC, "sum": VARIADIC, "stdev": VARIADIC, "isnumber": (1, 1),
    "isinteger": (1, 1), "isblankormissingcode": (1, 1), "contains": (2, 2),
    "not_contain": (2, 2), "starts_with": (2, 2), "ends_with": (2, 2), "left": (2, 2),
    "right": (2, 2), "mid": (3, 3), "length": (1, 1), "find": (2, 2),
    "concat": VARIADIC, "upper": (1, 1), "lower": (1, 1), "trim": (1, 1),
    "year": (1, 1), "month": (1, 1), "day": (1, 1)}


def check_arity(name: str, count: int, where: str = "") -> None:
    """Raise LogicError unless function `name` takes `count` arguments."""
    lo, hi = ARITY[name]
    if not lo <= count <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise LogicError(f"{name}() takes {want} arguments, not {count}{where}")


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
COMPARE = ("=", "!=", "<", "<=", ">", ">=")


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

    def left_to_right(operand: Callable[[], Node], ops: tuple[str, ...]) -> Node:
        """`a + b - c` as ((a + b) - c): operators of one precedence, read left to right."""
        node = operand()
        while True:
            op = next((o for o in ops if take(o)), None)
            if op is None:
                return node
            node = Op(op, (node, operand()))

    def additive() -> Node:
        return left_to_right(multiplicative, ("+", "-"))

    def multiplicative() -> Node:
        return left_to_right(power, ("*", "/"))

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
            if name not in ARITY:
                raise LogicError(f"function {val}() is not supported (in {text!r})")
            pos += 1
            args: list[Node] = []
            if not take(")"):
                args.append(disjunction())
                while take(","):
                    args.append(disjunction())
                expect(")")
            check_arity(name, len(args), f" (in {text!r})")
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
