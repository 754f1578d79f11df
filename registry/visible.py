"""Text from the data, made safe to show: nothing invisible, nothing that reorders.

A value typed into REDCap can hold characters a reader cannot see but that change
what they read: a right-to-left override (U+202E) reverses the rest of a line, a
zero-width space hides inside an id, a control character moves the cursor of a
terminal. `visible()` spells each of them out (`<U+202E>`, `\\x07`) and cuts a value
longer than `limit` with a note, so a 100 kB value cannot run off a page and push the
link to its form out of sight. Used for flag messages (and so the CSV, the CLI and
the PDFs) and for every value a report template prints.
"""

from __future__ import annotations

import re

__all__ = ["REPORT_LIMIT", "VALUE_LIMIT", "visible"]

#: The longest value a flag message quotes, and the longest text a report prints.
VALUE_LIMIT = 500
REPORT_LIMIT = 5000

# bidi embeddings, overrides, isolates and marks; zero-width and invisible characters
_FORMAT = ("\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
           "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff\u00ad\u180e")
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f" + _FORMAT + "]")


def _spell(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    if code < 0x100 and char not in _FORMAT:
        return f"\\x{code:02x}"
    return f"<U+{code:04X}>"


def visible(text: str, limit: int | None = VALUE_LIMIT) -> str:
    """`text` with control, bidi and zero-width characters spelled out, and cut to
    `limit` characters (None: never) with a note saying how long it was."""
    cut = ""
    if limit is not None and len(text) > limit:
        cut = f"… [cut: {len(text):,} characters in all]"
        text = text[:limit]
    if _HIDDEN.search(text):
        text = _HIDDEN.sub(_spell, text)
    return text + cut
