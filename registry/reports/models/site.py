"""The site report's data: one site's flags, counts and resolutions for its coordinator."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from registry.quality.lifecycle import OPEN_STATUSES as _LIFECYCLE_OPEN

Severity = Literal["blocking", "warning"]
FlagStatus = Literal["new", "open", "resolved", "reopened", "accepted"]

#: Flag statuses that still need fixing (a `resolved` flag is shown as fixed).
OPEN_STATUSES: frozenset[str] = frozenset(_LIFECYCLE_OPEN)


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key ordering "2" before "10" and "site-2" before "site-10"."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", text) if part != "")


@dataclass(frozen=True)
class Flag:
    """One failed check on one record, field and rule (a row of `flags-<site>.csv`)."""

    site: str
    record_id: str
    form: str
    instance: int | None
    field: str
    rule_id: str
    severity: Severity
    status: FlagStatus
    first_seen: date | None
    last_seen: date | None
    message: str
    link: str
    event: str = ""        # the unique event name on a longitudinal project
    label: str = ""        # the field's label in the data dictionary
    suggestion: str = ""   # the rule's: what the coordinator should check
    value: str = ""        # the flagged cell, as the message shows it
    #: a calculated field: the fields its formula reads (nobody types into it)
    computed_from: tuple[str, ...] = ()
    #: the fields the rule reads, its own first (one wrong cell may explain many flags)
    involves: tuple[str, ...] = ()

    @property
    def is_calculated(self) -> bool:
        return bool(self.computed_from)

    #: its REDCap DRW query on a site with drw_sync: "open", "closed", "accepted", or ""
    query: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_blocking(self) -> bool:
        return self.severity == "blocking"


@dataclass(frozen=True)
class NightCount:
    """Open flags of one site at the end of one night's run (for the history chart)."""

    night: date
    blocking: int
    warning: int

    @property
    def total(self) -> int:
        return self.blocking + self.warning


@dataclass(frozen=True)
class Resolution:
    """How fast a site's flags get fixed: over the runs of the last `days` days, the
    flags fixed (`resolved`), the median days from first seen to the night fixed, and
    how many flags came back after a fix (`reopened`)."""

    days: int
    resolved: int
    median_days: float | None
    reopened: int

    @property
    def reopen_rate(self) -> float | None:
        return None if not self.resolved else self.reopened / self.resolved


@dataclass(frozen=True)
class SiteReport:
    """Everything one site coordinator's PDF shows, for one run.

    `flags` holds the site's open flags and the ones resolved in this run (a flag of
    another site is refused at render time). `history` is one `NightCount` per past
    night, oldest first, this night included. `previous_run_id`/`previous_time` name
    the run the "new" and "resolved" counts are relative to (None on the first run).
    `stale_note` says why the snapshot is not tonight's (the pull failed), or is None.
    """

    site: str
    site_label: str
    run_id: str
    snapshot_id: str
    snapshot_time: datetime
    n_records: int
    flags: tuple[Flag, ...] = ()
    history: tuple[NightCount, ...] = ()
    previous_run_id: str | None = None
    previous_time: datetime | None = None
    stale_note: str | None = None
    study_title: str = ""   # the REDCap project's title (project info), if known
    #: The project's forms in REDCap's order (from the snapshot's dictionary), and the
    #: labels of forms and events shown as block titles; unknown ones sort after.
    form_order: tuple[str, ...] = ()
    form_labels: Mapping[str, str] = field(default_factory=dict)
    event_labels: Mapping[str, str] = field(default_factory=dict)
    #: The dictionary's field labels and forms (to name a cell to fix first, and the
    #: fields a calculated one is computed from).
    field_labels: Mapping[str, str] = field(default_factory=dict)
    field_forms: Mapping[str, str] = field(default_factory=dict)
    repeating_forms: frozenset[str] = frozenset()
    #: When the run started (how long each open flag has been open); None: the snapshot's.
    run_time: datetime | None = None
    #: Fixes over the last `Resolution.days` days (None: no history asked for).
    resolution: Resolution | None = None

    @property
    def open_flags(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.is_open)

    @property
    def resolved_flags(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.status == "resolved")

    @property
    def n_blocking(self) -> int:
        return sum(1 for f in self.open_flags if f.is_blocking)

    @property
    def n_warning(self) -> int:
        return sum(1 for f in self.open_flags if not f.is_blocking)

    @property
    def n_new(self) -> int:
        """Open flags first raised (or raised again) since the previous report."""
        return sum(1 for f in self.open_flags if f.status in ("new", "reopened"))

    @property
    def n_resolved(self) -> int:
        return len(self.resolved_flags)

    @property
    def records_to_fix(self) -> tuple[str, ...]:
        return tuple(sorted({f.record_id for f in self.open_flags}, key=natural_key))
