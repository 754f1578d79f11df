"""HTML -> PDF, shared by both reports: the jinja2 environment and the atomic write.

A report appears whole or not at all: WeasyPrint writes into a temporary file in the
target directory, which is then moved over the final name with `os.replace` (atomic on
one file system). Nothing volatile goes into the PDF (no creation date, fixed figure
ids), so rendering the same model twice gives the same bytes.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from registry.errors import RegistryError
from registry.reports import format as fmt

__all__ = ["as_date", "environment", "epoch_of", "render_html", "svg_data_uri", "write_pdf"]

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


class _NoSubsetNagging(logging.Filter):
    """Drop WeasyPrint's per-render "Using fontTools instead of HarfBuzz-Subset" warning:
    the fonts are embedded either way and the nightly log should not fill with it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "HarfBuzz-Subset" not in record.getMessage()


_NAG_FILTER = _NoSubsetNagging()


def write_pdf(html: str, path: str | os.PathLike[str], *, epoch: int = 0) -> Path:
    """Lay `html` out on A4 with the report stylesheet and write it to `path` atomically.

    `epoch` (seconds since 1970) is the time stamped into the embedded font subsets
    (fontTools reads SOURCE_DATE_EPOCH); the callers pass the run's time, so the same
    run gives the same bytes whenever its report is rebuilt.
    """
    import weasyprint  # imported here: ~0.5 s, and only the report command needs it

    for name in ("weasyprint", "weasyprint.progress"):
        logger = logging.getLogger(name)
        if _NAG_FILTER not in logger.filters:
            logger.addFilter(_NAG_FILTER)

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
    saved_epoch = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(epoch))
    try:
        document = weasyprint.HTML(string=html, base_url=str(TEMPLATES))
        document.write_pdf(tmp, stylesheets=[weasyprint.CSS(filename=str(STYLESHEET))])
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError:  # a full disk: `registry.outputs` says so in one line naming the run
        tmp.unlink(missing_ok=True)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if saved_epoch is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved_epoch
    return target


def epoch_of(moment: datetime) -> int:
    """Seconds since 1970 of a run time (naive times are UTC, as the store keeps them)."""

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def as_date(value: date | datetime | None) -> date | None:
    """A date from a date or datetime (the day it fell on)."""
    if isinstance(value, datetime):
        return value.date()
    return value
