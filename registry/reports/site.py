"""The site coordinator's PDF: what to fix, grouped by patient then form, blocking first.

Action first: a one-line verdict, four counts, the trend over past nights, then one
block per patient with one line per flag (plain message, "Open in REDCap" link). A
site with nothing to fix gets a short positive page instead of an empty table. Only
the site's own flags can reach the page: a flag of another site is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from registry.errors import RegistryError
from registry.reports.figures import history_svg
from registry.reports.format import plural
from registry.reports.models import Flag, SiteReport, natural_key
from registry.reports.render import epoch_of, render_html, svg_data_uri, write_pdf

__all__ = ["FormGroup", "PatientGroup", "group_flags", "render_site_html", "render_site_pdf",
           "verdict"]

_MAX_RESOLVED_SHOWN = 40


@dataclass(frozen=True)
class FormGroup:
    """The flags of one patient on one form instance (of one event), blocking first."""

    form: str
    instance: int | None
    flags: tuple[Flag, ...]
    event: str = ""
    label: str = ""        # the form's label (REDCap's), else made from its name
    event_label: str = ""

    @property
    def title(self) -> str:
        name = self.label or self.form.replace("_", " ").capitalize()
        if self.instance is not None:
            name = f"{name} #{self.instance}"
        event = self.event_label or self.event
        return f"{name} ({event})" if event else name

    @property
    def n_blocking(self) -> int:
        return sum(f.is_blocking for f in self.flags)


@dataclass(frozen=True)
class PatientGroup:
    """One patient's (record's) open flags, by form."""

    record_id: str
    forms: tuple[FormGroup, ...]

    @property
    def n_flags(self) -> int:
        return sum(len(g.flags) for g in self.forms)

    @property
    def n_blocking(self) -> int:
        return sum(g.n_blocking for g in self.forms)


def _rank(order: Sequence[str], name: str) -> tuple[int, str]:
    return (order.index(name), "") if name in order else (len(order), name)


def group_flags(flags: Sequence[Flag], form_order: Sequence[str] = (),
                form_labels: Mapping[str, str] | None = None,
                event_labels: Mapping[str, str] | None = None) -> tuple[PatientGroup, ...]:
    """Group flags by patient then form instance (and event).

    Patients with a blocking flag come first, then by record id in natural order;
    within a patient, forms with a blocking flag first, then in REDCap's form order
    (`form_order`, the project's; unknown forms after, by name) and event order;
    within a form, blocking flags first, then by field.
    """
    form_labels, event_labels = form_labels or {}, event_labels or {}
    event_order = list(event_labels)
    by_patient: dict[str, dict[tuple[str, str, int | None], list[Flag]]] = {}
    for flag in flags:
        by_patient.setdefault(flag.record_id, {}).setdefault(
            (flag.event, flag.form, flag.instance), []).append(flag)
    patients = []
    for record_id, forms in by_patient.items():
        groups = [
            FormGroup(form, instance, tuple(sorted(
                items, key=lambda f: (not f.is_blocking, f.field, f.rule_id))),
                event=event, label=form_labels.get(form, ""),
                event_label=event_labels.get(event, ""))
            for (event, form, instance), items in forms.items()
        ]
        groups.sort(key=lambda g: (g.n_blocking == 0, _rank(form_order, g.form),
                                   _rank(event_order, g.event), g.instance or 0))
        patients.append(PatientGroup(record_id, tuple(groups)))
    patients.sort(key=lambda p: (p.n_blocking == 0, natural_key(p.record_id)))
    return tuple(patients)


def verdict(report: SiteReport) -> str:
    """The one-line verdict at the top: how much to fix and how much of it blocks."""
    n_open = len(report.open_flags)
    if n_open == 0:
        return f"Nothing to fix: all {plural(report.n_records, 'record')} pass every check."
    records = len(report.records_to_fix)
    things = plural(n_open, "thing")
    if report.n_blocking:
        block = (f"{report.n_blocking} blocks the analyses" if report.n_blocking == 1
                 else f"{report.n_blocking} block the analyses")
    else:
        block = "none blocks the analyses"
    return f"{things} to fix in {plural(records, 'record')}; {block}."


def _check_site(report: SiteReport) -> None:
    foreign = sorted({f.site for f in report.flags if f.site != report.site})
    if foreign:
        raise RegistryError(
            f"site report for '{report.site}' was given flags of other sites "
            f"({', '.join(foreign)}); a coordinator may only see their own site's records"
        )


def render_site_html(report: SiteReport) -> str:
    """The site report as HTML (what `render_site_pdf` lays out)."""
    _check_site(report)
    resolved = sorted(report.resolved_flags,
                      key=lambda f: (natural_key(f.record_id), _rank(report.form_order, f.form),
                                     f.event, f.field))
    history = svg_data_uri(history_svg(report.history)) if len(report.history) >= 2 else None
    return render_html(
        "site.html.j2",
        r=report,
        verdict=verdict(report),
        patients=group_flags(report.open_flags, report.form_order, report.form_labels,
                             report.event_labels),
        resolved=resolved[:_MAX_RESOLVED_SHOWN],
        resolved_more=max(0, len(resolved) - _MAX_RESOLVED_SHOWN),
        history=history,
    )


def render_site_pdf(report: SiteReport, path: str | os.PathLike[str]) -> Path:
    """Write one site coordinator's PDF to `path` (whole or not at all)."""
    return write_pdf(render_site_html(report), path, epoch=epoch_of(report.snapshot_time))
