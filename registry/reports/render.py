"""HTML -> PDF, shared by both reports: the jinja2 environment and the atomic write.

A report appears whole or not at all: WeasyPrint writes into a temporary file in the
target directory, which is then moved over the final name with `os.replace` (atomic on
one file system). Nothing volatile goes into the PDF (no creation date, fixed figure
ids), so rendering the same model twice gives the same bytes.
"""

from __future__ import annotations

import base64
import os
import tempfile
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from registry.errors import RegistryError
from registry.reports import format as fmt

__all__ = ["as_date", "environment", "render_html", "svg_data_uri", "write_pdf"]

_HERE = Path(__file__).resolve().parent
TEMPLATES = _HERE / "templates"
STYLESHEET = _HERE / "style.css"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja2 environment of the report templates, with the formatting filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        hr=fmt.fmt_hr, ci=fmt.fmt_ci, p=fmt.fmt_p, int=fmt.fmt_int, pct=fmt.fmt_pct,
        smd=fmt.fmt_smd, date=fmt.fmt_date, datetime=fmt.fmt_datetime,
    )
    env.globals.update(plural=fmt.plural, hr_ci=fmt.fmt_hr_ci, EMPTY=fmt.EMPTY)
    return env


def svg_data_uri(svg: str) -> str:
    """An SVG document as a `data:` URI for an `<img src>` (keeps its ids to itself)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def render_html(template: str, **context: Any) -> str:
    """Fill one template of `templates/` with `context`."""
    return environment().get_template(template).render(**context)


def write_pdf(html: str, path: str | os.PathLike[str]) -> Path:
    """Lay `html` out on A4 with the report stylesheet and write it to `path` atomically."""
    import weasyprint  # imported here: ~0.5 s, and only the report command needs it

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(
            f"cannot create the report directory {target.parent}: {exc.strerror}; "
            "check reports.dir in settings.toml"
        ) from exc
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        document = weasyprint.HTML(string=html, base_url=str(TEMPLATES))
        document.write_pdf(tmp, stylesheets=[weasyprint.CSS(filename=str(STYLESHEET))])
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RegistryError(f"cannot write the report {target}: {exc.strerror}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def as_date(value: date | datetime | None) -> date | None:
    """A date from a date or datetime (the day it fell on)."""
    if isinstance(value, datetime):
        return value.date()
    return value
