"""A project's design beyond its dictionary: events, arms, form-event mapping, repetition.

A classic project has no events: every form is on its one implicit event, written `""`
here, and repeating forms are `("", form)`. A longitudinal project has events (each
in one arm, with a REDCap `event_id`), a mapping saying which forms each event holds,
repeating forms per event (`(event, form)`) and repeating whole events (the event's
unique name in `repeating_events`). The shapes `content=event|arm|formEventMapping|
repeatingFormsEvents` export are built here, as REDCap 15.7.6 builds them
(`Project::getEventRecords`, `extractArms`, `getInstrEventMapRecords`):

- event: `event_name, arm_num, [day_offset, offset_min, offset_max,] unique_event_name,
  custom_event_label, event_id` (the offsets only when scheduling is enabled; `arm_num`,
  the offsets and `event_id` are integers in JSON);
- arm: `arm_num, name`; formEventMapping: `arm_num, unique_event_name, form`;
- repeatingFormsEvents: `[event_name,] form_name, custom_form_label` (`form_name` `""`
  for a repeating event).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Arm", "Design", "Event", "unique_event_name"]

_NOT_NAME = re.compile(r"[^0-9a-z_ ]", re.IGNORECASE)


@dataclass(frozen=True)
class Event:
    """One event of a longitudinal project (REDCap's `content=event` row)."""

    unique_name: str
    name: str
    arm: int
    event_id: int
    day_offset: int = 0
    offset_min: int = 0
    offset_max: int = 0
    custom_label: str = ""


@dataclass(frozen=True)
class Arm:
    number: int
    name: str


def unique_event_name(label: str, arm: int, taken: Sequence[str] = ()) -> str:
    """REDCap's unique event name (`Project::getUniqueEventNames`): the label's letters,
    digits, `_` and spaces, spaces to `_`, lower case, cut to 18, no `_` at either end
    (an md5 prefix if nothing is left), `_arm_<n>`, then `b`, `c`... for repeats."""
    text = _NOT_NAME.sub("", label.strip()).replace(" ", "_")[:18].lower().strip("_")
    if not text:
        text = hashlib.md5(label.strip().encode("utf-8")).hexdigest()[:10]  # noqa: S324
    text += f"_arm_{arm}"
    count = list(taken).count(text)
    if count == 0:
        return text
    if count < 26:
        return text + chr(97 + count)
    return text + chr(96 + count // 26) + chr(97 + count % 26)


@dataclass
class Design:
    """Events, arms, the form-event mapping and the repeating setup of one project."""

    events: list[Event] = field(default_factory=list)
    arms: list[Arm] = field(default_factory=list)
    form_events: dict[str, tuple[str, ...]] = field(default_factory=dict)
    repeating: list[tuple[str, str, str]] = field(default_factory=list)
    scheduling: bool = False
    repeating_forms: dict[tuple[str, str], str] = field(init=False, repr=False)
    repeating_events: dict[str, str] = field(init=False, repr=False)
    _by_name: dict[str, Event] = field(init=False, repr=False)
    _order: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # `repeating`: (event, form, custom label); event "" on classic, form "" = the event
        self.repeating_forms = {(e, f): lab for e, f, lab in self.repeating if f}
        self.repeating_events = {e: lab for e, f, lab in self.repeating if not f}
        self._by_name = {e.unique_name: e for e in self.events}
        self._order = {e.unique_name: i for i, e in enumerate(self.events)}
        if self.events and not self.arms:
            self.arms = [Arm(n, f"Arm {n}") for n in dict.fromkeys(e.arm for e in self.events)]

    # -- building ----------------------------------------------------------------------
    @classmethod
    def classic(cls, repeating_forms: Iterable[str] = ()) -> Design:
        """A classic project whose listed forms repeat."""
        return cls(repeating=[("", f, "") for f in repeating_forms])

    @classmethod
    def from_rows(cls, *, events: Sequence[Mapping[str, Any]] = (),
                  arms: Sequence[Mapping[str, Any]] = (),
                  mapping: Sequence[Mapping[str, Any]] = (),
                  repeating: Sequence[Mapping[str, Any]] = (),
                  first_event_id: int = 40001) -> Design:
        """From rows shaped as the API exports events, arms, formEventMapping and
        repeatingFormsEvents. A missing `unique_event_name` is derived as REDCap
        derives it; a missing `event_id` is numbered from `first_event_id`."""
        built: list[Event] = []
        for i, row in enumerate(events):
            arm = int(row.get("arm_num") or 1)
            name = str(row.get("event_name", ""))
            unique = str(row.get("unique_event_name") or "") or unique_event_name(
                name, arm, [unique_event_name(e.name, e.arm) for e in built])
            built.append(Event(
                unique_name=unique, name=name, arm=arm,
                event_id=int(row.get("event_id") or first_event_id + i),
                day_offset=int(float(row.get("day_offset") or 0)),
                offset_min=int(float(row.get("offset_min") or 0)),
                offset_max=int(float(row.get("offset_max") or 0)),
                custom_label=str(row.get("custom_event_label") or "")))
        scheduling = any("day_offset" in row for row in events)
        form_events: dict[str, list[str]] = {}
        for row in mapping:
            form_events.setdefault(str(row["unique_event_name"]), []).append(str(row["form"]))
        return cls(events=built,
                   arms=[Arm(int(a["arm_num"]), str(a.get("name", ""))) for a in arms],
                   form_events={e: tuple(f) for e, f in form_events.items()},
                   repeating=[(str(r.get("event_name") or ""), str(r.get("form_name") or ""),
                               str(r.get("custom_form_label") or "")) for r in repeating],
                   scheduling=scheduling)

    # -- questions ---------------------------------------------------------------------
    @property
    def longitudinal(self) -> bool:
        return bool(self.events)

    @property
    def has_repeating(self) -> bool:
        return bool(self.repeating_forms or self.repeating_events)

    @property
    def multiple_arms(self) -> bool:
        return len(self.arms) > 1

    @property
    def event_names(self) -> list[str]:
        """Unique event names in project order; `[""]` on a classic project."""
        return [e.unique_name for e in self.events] if self.events else [""]

    def event(self, unique_name: str) -> Event | None:
        return self._by_name.get(unique_name)

    def event_order(self, unique_name: str) -> int:
        return self._order.get(unique_name, 0)

    def designated(self, form: str, event: str) -> bool:
        """Whether `event` holds `form` (always on a classic project)."""
        return not self.events or form in self.form_events.get(event, ())

    def is_repeating_form(self, form: str, event: str = "") -> bool:
        return (event, form) in self.repeating_forms

    def is_repeating_event(self, event: str) -> bool:
        return event in self.repeating_events

    def repeating_form_names(self) -> set[str]:
        return {form for _, form in self.repeating_forms}

    def arm_name(self, number: int) -> str:
        return next((a.name for a in self.arms if a.number == number), f"Arm {number}")

    def name_ext(self, unique_name: str) -> str:
        """The event's label as REDCap shows it: `<name>`, plus `(Arm n: <arm name>)`
        when the project has several arms (used in messages and label exports)."""
        event = self._by_name[unique_name]
        if self.multiple_arms:
            return f"{event.name} (Arm {event.arm}: {self.arm_name(event.arm)})"
        return event.name

    # -- what the API exports ----------------------------------------------------------
    def event_rows(self, arms: Sequence[str] = ()) -> list[dict[str, Any]]:
        out = []
        for e in self.events:
            if arms and str(e.arm) not in arms:
                continue
            row: dict[str, Any] = {"event_name": e.name, "arm_num": e.arm}
            if self.scheduling:
                row.update(day_offset=e.day_offset, offset_min=e.offset_min,
                           offset_max=e.offset_max)
            row.update(unique_event_name=e.unique_name, custom_event_label=e.custom_label,
                       event_id=e.event_id)
            out.append(row)
        return out

    def arm_rows(self, arms: Sequence[str] = ()) -> list[dict[str, Any]]:
        return [{"arm_num": a.number, "name": a.name} for a in self.arms
                if not arms or str(a.number) in arms]

    def mapping_rows(self, arms: Sequence[str] = ()) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for e in self.events:
            if arms and str(e.arm) not in arms:
                continue
            out += [{"arm_num": e.arm, "unique_event_name": e.unique_name, "form": f}
                    for f in self.form_events.get(e.unique_name, ())]
        return out

    def repeating_rows(self) -> list[dict[str, str]]:
        """`content=repeatingFormsEvents` rows, in the order the setup was given (a
        folder's file holds REDCap's own order: per event, then as stored)."""
        return [({"event_name": event} if self.events else {})
                | {"form_name": form, "custom_form_label": label}
                for event, form, label in self.repeating]
