"""What one HTTP exchange with REDCap came to, in the client's terms.

A status other than 200 or an HTML page where data was asked for (`HttpStatus`, raised
by `check_response`, the `requests` response hook), a failure worth retrying
(`Transient`), nothing answering at the host (`no_server`), and REDCap's own words
from an error body (`error_text`). `registry.redcap.client` decides what to do with
each: retry, refuse, or give up.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from registry.errors import RedcapUnreachable

__all__ = ["HttpStatus", "RequestTimedOut", "Transient", "check_response", "error_text",
           "looks_html", "no_server"]


class HttpStatus(Exception):
    """Raised by the response hook: a status other than 200, or HTML instead of data."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


class Transient(Exception):
    """A failure worth retrying; `reason` is a short phrase for messages and logs."""

    def __init__(self, reason: str, *, timeout: bool = False, dead: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.timeout, self.dead = reason, timeout, dead


_NOT_FOUND = ("Name or service not known", "nodename nor servname",
              "Temporary failure in name resolution")


def no_server(exc: BaseException) -> str | None:
    """"connection refused" or "host not found" when nothing answers at the URL's host
    (not a server that dropped a connection it had accepted), else None."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        text = str(cur)
        if "Connection refused" in text or "Errno 111" in text:
            return "connection refused"
        if "NameResolutionError" in type(cur).__name__ or any(
                m in text for m in _NOT_FOUND):
            return "host not found"
        stack += [cur.__cause__, cur.__context__, getattr(cur, "reason", None),
                  *[a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]]
    return None


class RequestTimedOut(RedcapUnreachable):
    """A request timed out (raised without retrying when the caller asked to shrink)."""


def error_text(response: requests.Response) -> str:
    """REDCap's own error message from a body, or a description of what came back."""
    ctype = response.headers.get("Content-Type", "")
    text = response.text or ""
    if "html" in ctype.lower() or looks_html(response):
        return "an HTML page (a proxy or web server error page, not REDCap's API)"
    try:
        body = json.loads(text)
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])[:300]
    except ValueError:
        pass
    if "<error>" in text:
        return text.split("<error>", 1)[1].split("</error>", 1)[0][:300]
    text = text.strip().removeprefix("ERROR:").strip()
    return (text[:300] or "an empty body").replace("\n", " ")


def check_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """`requests` response hook: refuse anything but a 200 with the data asked for."""
    if response.status_code != 200:
        raise HttpStatus(response.status_code, error_text(response))
    if "html" in response.headers.get("Content-Type", "").lower() and looks_html(response):
        raise HttpStatus(200, "an HTML page (a proxy or login page, not REDCap's API)")


def looks_html(response: requests.Response) -> bool:
    head = response.content[:200].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))
