"""REDCap logic in a coordinator's words (`describe`): "Sex is Male", "the answer to
“Still taken at last follow-up?” is No", "Date of birth (at baseline) is empty".

Used for the flag messages of the dictionary's `required` and `hidden` rules, which say
when a field is shown; the reference forms are those `registry.quality.branching`
evaluates (`[event][field]`, `[field(code)]` for a checkbox choice).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from registry.fieldtypes import choices
from registry.quality.logic.syntax import Call, Literal, Node, Op, Ref

__all__ = ["EVENT_SMART", "FIELD_REF", "describe"]

#: The smart variables naming an event, as the first part of a reference.
EVENT_SMART = ("event-name", "previous-event-name", "next-event-name", "first-event-name",
               "last-event-name")
#: A field reference's name and optional checkbox code: `field` or `field(code)`.
FIELD_REF = re.compile(r"^([a-z0-9_]+)(?:\(([^()]+)\))?$", re.IGNORECASE)


def _label(name: str, dictionary: Mapping[str, Mapping[str, str]]) -> str:
    meta = dictionary.get(name, {})
    return (meta.get("field_label") or name).strip() or name


def _ref_words(ref: Ref, dictionary: Mapping[str, Mapping[str, str]]) -> tuple[str, str, str]:
    """(label, field name, checkbox code) of a reference, with "(at <event>)"."""
    parts = list(ref.parts)
    event = ""
    if len(parts) > 1 and (parts[0] not in dictionary or parts[0].lower() in EVENT_SMART):
        event = parts.pop(0)
    match = FIELD_REF.match(parts[0]) if parts else None
    if match is None:
        return "[" + "][".join(ref.parts) + "]", "", ""
    name, code = match.group(1), match.group(2) or ""
    label = _label(name, dictionary)
    if event:
        label = f"{label} (at {event.replace('-name', '')})"
    return label, name, code


def describe(logic: Node, dictionary: Mapping[str, Mapping[str, str]]) -> str:
    """The logic in a coordinator's words: "Sex is Male", "the answer to “Still taken at
    last follow-up?” is No" (a question's label is quoted, so the sentence reads)."""
    return _words(logic, dictionary, top=True)


def _words(node: Node, dictionary: Mapping[str, Mapping[str, str]], top: bool = False) -> str:
    if isinstance(node, Op) and node.op in ("and", "or"):
        text = f" {node.op} ".join(_words(a, dictionary) for a in node.args)
        return text if top else f"({text})" if node.op == "or" else text
    if isinstance(node, Op) and node.op == "not":
        return f"not ({_words(node.args[0], dictionary, top=True)})"
    if isinstance(node, Op) and node.op in ("=", "!=") and isinstance(node.args[0], Ref) \
            and isinstance(node.args[1], Literal):
        label, name, code = _ref_words(node.args[0], dictionary)
        value = node.args[1].value
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        meta = dictionary.get(name, {})
        if code:
            choice = choices(meta).get(code, code)
            ticked = (text == "1") == (node.op == "=")
            return f"{label}: {choice} {'ticked' if ticked else 'not ticked'}"
        if text == "":
            return f"{label} {'is empty' if node.op == '=' else 'is filled in'}"
        shown_value = choices(meta).get(text, text)
        if label.endswith("?"):  # a question: "the answer to “Still taken?” is No"
            label = f"the answer to “{label}”"
        return f"{label} {'is' if node.op == '=' else 'is not'} {shown_value}"
    return _expression(node, dictionary)


def _expression(node: Node, dictionary: Mapping[str, Mapping[str, str]]) -> str:
    if isinstance(node, Literal):
        v = node.value
        return str(int(v)) if isinstance(v, float) and v.is_integer() else (
            str(v) if isinstance(v, float) else f"'{v}'")
    if isinstance(node, Ref):
        label, _, code = _ref_words(node, dictionary)
        return f"{label} ({code})" if code else label
    if isinstance(node, Call):
        return f"{node.name}({', '.join(_expression(a, dictionary) for a in node.args)})"
    if node.op == "neg":
        return f"-{_expression(node.args[0], dictionary)}"
    if node.op in ("and", "or", "not"):
        return _words(node, dictionary)
    symbol = {"=": "=", "!=": "≠"}.get(node.op, node.op)
    a, b = (_expression(x, dictionary) for x in node.args)
    return f"{a} {symbol} {b}"
