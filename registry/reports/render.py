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
from contextvars import ContextVar
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from registry.errors import RegistryError
from registry.reports import format as fmt
from registry.visible import REPORT_LIMIT, visible

__all__ = ["BATCH", "PDF_MODE", "as_date", "environment", "epoch_of", "only_embedded",
           "render_html", "svg_data_uri", "write_pdf", "write_pdf_now"]

_HERE = Path(__file__).resolve().parent
TEMPLATES = _HERE / "templates"
STYLESHEET = _HERE / "style.css"
#: The file mode of a written report: owner-only (`registry.permissions`).
PDF_MODE = 0o600
#: The `registry.reports.batch.RenderBatch` under way, if any: `write_pdf` queues on it.
BATCH: ContextVar[Any] = ContextVar("registry_render_batch", default=None)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja2 environment of the report templates, with the formatting filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )
    env.filters.update(
        hr=fmt.fmt_hr, ci=fmt.fmt_ci, p=fmt.fmt_p, int=fmt.fmt_int, pct=fmt.fmt_pct,
        smd=fmt.fmt_smd, date=fmt.fmt_date, datetime=fmt.fmt_datetime,
    )
    env.globals.update(plural=fmt.plural, hr_ci=fmt.fmt_hr_ci, EMPTY=fmt.EMPTY)
    return env


def _shown(value: Any) -> Any:
    """Every value a template prints: text from the data spelled out and cut
    (`registry.visible`); markup the reports made themselves (figures) as it is."""
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return visible(value, REPORT_LIMIT)
    return value


def svg_data_uri(svg: str) -> str:
    """An SVG document as a `data:` URI for an `<img src>` (keeps its ids to itself)."""
    return markupsafe.Markup("data:image/svg+xml;base64,"
                             + base64.b64encode(svg.encode("utf-8")).decode("ascii"))


def only_embedded() -> Any:
    """WeasyPrint's `url_fetcher` for a report: it may load only what it embeds itself
    (`data:` URIs: the figures); an image, stylesheet or frame naming a file or a server
    is refused (WeasyPrint leaves it out), whatever the templates' escaping let through."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False)


def render_html(template: str, **context: Any) -> str:
    """Fill one template of `templates/` with `context`."""
    return environment().get_template(template).render(**context)


def write_pdf(html: str, path: str | os.PathLike[str], *, epoch: int = 0) -> Path:
    """Lay `html` out on A4 with the report stylesheet and write it to `path` atomically.

    `epoch` (seconds since 1970) is the time stamped into the embedded font subsets
    (fontTools reads SOURCE_DATE_EPOCH); the callers pass the run's time, so the same
    run gives the same bytes whenever its report is rebuilt. Inside a
    `registry.reports.batch.RenderBatch` the PDF is queued (on a worker process, or
    copied from the batch's cache) and is complete when the batch ends.
    """
    batch = BATCH.get()
    if batch is not None:
        return batch.submit(html, Path(path), int(epoch))  # type: ignore[no-any-return]
    return write_pdf_now(html, path, epoch=epoch)


def write_pdf_now(html: str, path: str | os.PathLike[str], *, epoch: int = 0) -> Path:
    """`write_pdf` here and now, whatever batch is under way."""
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
    saved_epoch = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(epoch))
    try:
        document = weasyprint.HTML(string=html, base_url=str(TEMPLATES),
                                   url_fetcher=only_embedded())
        document.write_pdf(tmp, stylesheets=[weasyprint.CSS(filename=str(STYLESHEET))])
        os.chmod(tmp, PDF_MODE)
        os.replace(tmp, target)
    except BaseException:  # a full disk too: `registry.outputs` says so naming the run
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
