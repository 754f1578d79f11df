"""REDCap response bodies: data as json/csv/xml, bare text, and error bodies.

Shapes follow REDCAP_API.md §2-§3: JSON is compact, CSV is PHP `fputcsv` style (a
cell is quoted when it holds a comma, quote, backslash, tab, newline or space) with
`\\n` line ends, XML wraps each row in `<item>` with CDATA values, and an error body
depends on `returnFormat`: `{"error": msg}`, `ERROR: msg` or `<hash><error>`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FORMATS", "Reply", "data_reply", "error_reply", "text_reply"]

FORMATS = ("json", "csv", "xml")
_TYPES = {"json": "application/json", "csv": "text/csv", "xml": "text/xml"}
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" ?>'
_CSV_SPECIAL = set(',"\\\n\r\t ')


@dataclass
class Reply:
    """An HTTP reply the server writes as is."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if any(ch in _CSV_SPECIAL for ch in text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv(rows: Sequence[Mapping[str, Any]], header: Sequence[str] | None) -> str:
    keys = list(header) if header is not None else (list(rows[0]) if rows else [])
    lines = [",".join(_cell(k) for k in keys)] if keys else []
    lines += [",".join(_cell(row.get(k, "")) for k in keys) for row in rows]
    return "\n".join(lines) + ("\n" if lines else "")


def _xml_value(value: Any) -> str:
    return f"<![CDATA[{'' if value is None else value}]]>"


def _xml(data: Any, root: str) -> str:
    if isinstance(data, Mapping):
        inner = "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in data.items())
        return f"{_XML_HEAD}\n<{root}>{inner}</{root}>\n"
    items = "".join(
        "<item>" + "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in row.items()) + "</item>\n"
        for row in data)
    return f"{_XML_HEAD}\n<{root}>\n{items}</{root}>\n"


def data_reply(data: Sequence[Mapping[str, Any]] | Mapping[str, Any], fmt: str, *,
               header: Sequence[str] | None = None, root: str = "records") -> Reply:
    """A 200 reply holding a list of rows (or one object, e.g. project info) in `fmt`."""
    if fmt == "json":
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    elif fmt == "csv":
        rows = [data] if isinstance(data, Mapping) else data
        body = _csv(rows, header)
    else:
        fmt = "xml"
        body = _xml(data, root)
    return Reply(200, f"{_TYPES[fmt]}; charset=utf-8", body.encode("utf-8"))


def text_reply(text: str, status: int = 200, content_type: str = "text/html") -> Reply:
    """A bare text reply (version, next record name, a delete count)."""
    return Reply(status, f"{content_type}; charset=utf-8", text.encode("utf-8"))


def error_reply(status: int, message: str, return_format: str) -> Reply:
    """REDCap's error body for `returnFormat` (xml when missing or unknown)."""
    if return_format == "json":
        return Reply(status, "application/json; charset=utf-8",
                     json.dumps({"error": message}, separators=(",", ":"),
                                ensure_ascii=False).encode("utf-8"))
    if return_format == "csv":
        return text_reply(f"ERROR: {message}", status, "text/csv")
    body = f"{_XML_HEAD}\n<hash>\n\t<error>{message}</error>\n</hash>"
    return text_reply(body, status, "text/xml")
