"""The site coordinator's PDF: what to fix, record by record, blocking first.

Action first: a one-line verdict counting records and flags separately ("10 records
with 14 blocking flags"), the counts, how fast flags get fixed (median days to a fix
and how many came back, over the last 90 days), the trend over past nights. Then one
block per record (`registry.reports.site_groups`): its blocking flags first, each with
the rule's suggestion, how long it has been open and an "Open in REDCap" link; a
calculated field is shown as "check the fields it is computed from" and not counted
as something to type in; when one cell explains most of a record's flags it is named
first and the flags that follow from it are grouped under it.

A site with many open flags (more than `COMPACT_FROM`) gets first a page of what
matters most (the flags counted per rule, with the suggestion once per rule) and then
a compact table, one line per flag, of its first records (blocking first) up to
`DETAIL_MAX` flags: the PDF is the short list a coordinator works through, and the
other flags are counted and pointed to the site's spreadsheets (`flags-<site>.xlsx`,
one sheet per form, and `.csv`), which list every flag. A site with nothing to fix gets a
short positive page. Only the site's own flags can reach the page: a flag of another
site is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from registry.errors import RegistryError
from registry.reports.figures import history_svg
from registry.reports.format import plural
from registry.reports.models import SiteReport, natural_key
from registry.reports.render import epoch_of, render_html, svg_data_uri, write_pdf
from registry.reports.site_groups import RecordGroup, by_rule, form_title, group_records

__all__ = ["COMPACT_FROM", "DETAIL_MAX", "record_groups", "render_site_html", "render_site_pdf",
           "verdict"]

_MAX_RESOLVED_SHOWN = 40
#: From this many open flags on, the summary page and the compact list.
COMPACT_FROM = 60
#: The compact list stops at the record that would take it past this many flags (about
#: three pages); a longer list is laid out for nobody: it costs ~0.2 s of CPU a page
#: every night the site changes, and the spreadsheets already hold every flag.
DETAIL_MAX = 100


def _shown(groups: tuple[RecordGroup, ...]) -> int:
    """How many of `groups` (whole records, in order) the compact list shows."""
    total = 0
    for i, group in enumerate(groups):
        total += group.n_flags
        if total > DETAIL_MAX and i > 0:
            return i
    return len(groups)


def record_groups(report: SiteReport) -> tuple[RecordGroup, ...]:
    """The report's open flags grouped by record, as the PDF lists them."""
    repeating = set(report.repeating_forms) | {f.form for f in report.flags
                                                if f.instance is not None}
    today = (report.run_time or report.snapshot_time).date()
    return group_records(report.open_flags, form_order=report.form_order,
                         form_labels=report.form_labels, event_labels=report.event_labels,
                         field_labels=report.field_labels, field_forms=report.field_forms,
                         repeating=repeating, today=today)


def verdict(report: SiteReport) -> str:
    """The one-line verdict: records and flags counted apart, blocking first.

    A flag on a calculated field is not counted (nobody types into it; its inputs are),
    but its record is.
    """
    flags = report.open_flags
    if not flags:
        return f"Nothing to fix: all {plural(report.n_records, 'record')} pass every check."
    typed = [f for f in flags if not f.is_calculated]
    blocked = {f.record_id for f in flags if f.is_blocking}
    n_blocking = sum(f.is_blocking for f in typed)
    others = [f for f in typed if not f.is_blocking and f.record_id not in blocked]
    other_records = {f.record_id for f in flags if f.record_id not in blocked}
    if not blocked:
        n_warning = len([f for f in typed if not f.is_blocking])
        return (f"No record is blocked; {plural(len(other_records), 'record')} with "
                f"{plural(n_warning, 'warning')} to check.")
    line = f"{plural(len(blocked), 'record')} with {plural(n_blocking, 'blocking flag')}"
    if other_records:
        line += (f"; {len(other_records)} more {'record' if len(other_records) == 1 else 'records'}"
                 f" with {plural(len(others), 'warning')} to check")
    return line + "."


def _check_site(report: SiteReport) -> None:
    foreign = sorted({f.site for f in report.flags if f.site != report.site})
    if foreign:
        raise RegistryError(
            f"site report for '{report.site}' was given flags of other sites "
            f"({', '.join(foreign)}); a coordinator may only see their own site's records"
        )


def _resolution_line(report: SiteReport) -> str:
    res = report.resolution
    if res is None:
        return ""
    if not res.resolved:
        return f"No flag was fixed in the last {res.days} days."
    median = res.median_days or 0.0
    days = "less than a day" if median < 1 else plural(round(median), "day")
    rate = res.reopen_rate or 0.0
    return (f"Over the last {res.days} days {plural(res.resolved, 'flag was', 'flags were')} "
            f"fixed, after {days} (median); {res.reopened} came back after a fix "
            f"(reopen rate {rate:.0%}).")


def render_site_html(report: SiteReport) -> str:
    """The site report as HTML (what `render_site_pdf` lays out)."""
    _check_site(report)
    resolved = sorted(report.resolved_flags,
                      key=lambda f: (natural_key(f.record_id),
                                     report.form_order.index(f.form)
                                     if f.form in report.form_order else len(report.form_order),
                                     f.event, f.field))
    history = svg_data_uri(history_svg(report.history)) if len(report.history) >= 2 else None
    groups = record_groups(report)
    compact = len(report.open_flags) >= COMPACT_FROM
    rest: tuple[RecordGroup, ...] = ()
    if compact:
        shown = _shown(groups)
        groups, rest = groups[:shown], groups[shown:]
    typed = [f for f in report.open_flags if not f.is_calculated]
    return render_html(
        "site.html.j2",
        r=report,
        verdict=verdict(report),
        groups=groups,
        compact=compact,
        rules=by_rule(report.open_flags, report.form_labels) if compact else (),
        n_records_blocked=len({f.record_id for f in report.open_flags if f.is_blocking}),
        n_blocking=sum(f.is_blocking for f in typed),
        n_warning=sum(not f.is_blocking for f in typed),
        n_calculated=len(report.open_flags) - len(typed),
        n_roots=sum(g.root is not None for g in groups),
        more_flags=sum(g.n_flags for g in rest),
        more_records=len(rest),
        more_blocking=sum(g.n_blocking for g in rest),
        resolution=_resolution_line(report),
        resolved=[(f, form_title(f.form, f.instance, f.event, report.form_labels,
                                 report.event_labels))
                  for f in resolved[:_MAX_RESOLVED_SHOWN]],
        resolved_more=max(0, len(resolved) - _MAX_RESOLVED_SHOWN),
        history=history,
    )


def render_site_pdf(report: SiteReport, path: str | os.PathLike[str]) -> Path:
    """Write one site coordinator's PDF to `path` (whole or not at all)."""
    return write_pdf(render_site_html(report), path, epoch=epoch_of(report.snapshot_time))
