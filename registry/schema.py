"""The registry's shape as one object: what REDCap says plus the registry profile.

REDCap says most of a project's shape through its API: the data dictionary (fields,
forms, types, choices, branching logic), project info (classic or longitudinal), the
events and arms, which forms each event holds (the form-event mapping) and which forms
or events repeat. The registry profile (`registry.profile`) adds what REDCap cannot
say: which form holds the patient-level facts, the frame names suites and studies use,
the fields that play the roles of birth, diagnosis, death..., and the cross-form
columns the domain rules need.

`build_schema` turns all of that into one frozen `RegistrySchema` that tidy, quality,
the studies and the reports read; no module names a form, event or field of any
registry. The pull keeps the REDCap side with each snapshot, so
`schema_from_snapshot` rebuilds the schema any snapshot was taken under.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from registry.errors import RegistryError
from registry.fieldtypes import checkbox_columns, choices
from registry.profile import Profile

__all__ = [
    "Arm",
    "Event",
    "FieldInfo",
    "RegistrySchema",
    "SchemaError",
    "build_schema",
    "check_profile",
    "missing_profile_fields",
    "schema_from_snapshot",
]


class SchemaError(RegistryError):
    """The REDCap side of a project is unusable (no dictionary, a mapping to nowhere)."""

    exit_code = 2


@dataclass(frozen=True)
class FieldInfo:
    """One field of the data dictionary, read once (REDCap's strings made plain)."""

    name: str
    form: str
    field_type: str
    validation: str = ""
    label: str = ""
    choices: Mapping[str, str] = field(default_factory=dict)  # code -> label
    required: bool = False
    branching: str = ""
    calculation: str = ""
    min: str = ""
    max: str = ""
    note: str = ""
    annotation: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        """The export columns of the field (`<field>___<code>` for a checkbox)."""
        row = {"field_name": self.name, "field_type": self.field_type,
               "select_choices_or_calculations": "|".join(
                   f"{c}, {lab}" for c, lab in self.choices.items())}
        return tuple(checkbox_columns(row)) or (self.name,)


@dataclass(frozen=True)
class Event:
    """One event of a longitudinal project (`event_id` when REDCap gives it)."""

    unique_name: str
    label: str = ""
    arm: int | None = None
    event_id: int | None = None


@dataclass(frozen=True)
class Arm:
    """One arm of a longitudinal project."""

    number: int
    name: str = ""


@dataclass(frozen=True)
class RegistrySchema:
    """Forms, fields, events, repetition and the profile of one REDCap project.

    `forms` in project order; `form_events` maps a form to the unique names of the
    events that hold it (empty on a classic project); `repeating_forms` holds
    `(event or "", form)` pairs, `repeating_events` the events that repeat as a
    whole. Frame names come from the profile; without one a form's frame is named
    after the form.
    """

    id_field: str
    metadata: tuple[Mapping[str, str], ...]
    fields: Mapping[str, FieldInfo]
    forms: tuple[str, ...]
    form_labels: Mapping[str, str]
    longitudinal: bool = False
    events: tuple[Event, ...] = ()
    arms: tuple[Arm, ...] = ()
    form_events: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    repeating_forms: frozenset[tuple[str, str]] = frozenset()
    repeating_events: frozenset[str] = frozenset()
    profile: Profile | None = None
    project_info: Mapping[str, Any] = field(default_factory=dict)

    # --- frames -------------------------------------------------------------------
    def frames(self) -> dict[str, str]:
        """Frame name -> form, in form order (the profile's names, else the form's)."""
        named = dict(self.profile.frames) if self.profile is not None else {}
        by_form = {form: frame for frame, form in named.items()}
        return {by_form.get(form, form): form for form in self.forms}

    def frame_of(self, form: str) -> str:
        """The frame a form's rows are in (raises `KeyError` for an unknown form)."""
        if form not in self.form_labels:
            raise KeyError(form)
        if self.profile is not None:
            for frame, named in self.profile.frames.items():
                if named == form:
                    return frame
        return form

    def form_of(self, frame: str) -> str:
        """The form behind a frame name (raises `KeyError` for an unknown frame)."""
        form = self.frames().get(frame)
        if form is None:
            raise KeyError(frame)
        return form

    def has_frame(self, frame: str) -> bool:
        return frame in self.frames()

    # --- fields -------------------------------------------------------------------
    def fields_of(self, form: str) -> tuple[FieldInfo, ...]:
        """The data fields of a form (the record id and descriptive fields excepted)."""
        return tuple(f for f in self.fields.values()
                     if f.form == form and f.name != self.id_field
                     and f.field_type != "descriptive")

    def field_columns(self) -> dict[str, str]:
        """Every export column (checkbox columns included) -> its field name."""
        return {col: f.name for f in self.fields.values() for col in f.columns}

    def role(self, name: str) -> str | None:
        """The field playing profile role `name`, or None (no profile, no such role)."""
        if self.profile is None:
            return None
        ref = self.profile.roles.get(name)
        return ref.field if ref is not None else None

    # --- events and repetition ----------------------------------------------------
    def events_of(self, form: str) -> tuple[str, ...]:
        """Unique names of the events holding `form` (() on a classic project)."""
        return tuple(self.form_events.get(form, ()))

    def event(self, unique_name: str) -> Event:
        """The event called `unique_name` (raises `KeyError`)."""
        for ev in self.events:
            if ev.unique_name == unique_name:
                return ev
        raise KeyError(unique_name)

    def has_event(self, unique_name: str) -> bool:
        return any(ev.unique_name == unique_name for ev in self.events)

    def event_ids(self) -> dict[str, int]:
        """Unique event name -> REDCap's numeric event id (for links), where known."""
        return {ev.unique_name: ev.event_id for ev in self.events if ev.event_id is not None}

    def is_repeating(self, form: str, event: str = "") -> bool:
        """Whether `form` repeats: on `event` (as an instrument or because the event
        repeats), or with `event` "" anywhere in the project."""
        if event:
            return (event, form) in self.repeating_forms or event in self.repeating_events
        if any(f == form for _, f in self.repeating_forms):
            return True
        return any(ev in self.repeating_events for ev in self.events_of(form))

    def repeating_instrument_events(self, form: str) -> tuple[str, ...]:
        """Events on which `form` repeats as an instrument ("" on a classic project)."""
        return tuple(ev for ev, f in self.repeating_forms if f == form)


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _field(row: Mapping[str, Any]) -> FieldInfo:
    ftype = _text(row, "field_type")
    raw = _text(row, "select_choices_or_calculations")
    plain = {k: ("" if v is None else str(v)) for k, v in row.items()}
    return FieldInfo(
        name=_text(row, "field_name"), form=_text(row, "form_name"), field_type=ftype,
        validation=_text(row, "text_validation_type_or_show_slider_number"),
        label=_text(row, "field_label"), choices=choices(plain),
        required=_text(row, "required_field").lower() == "y",
        branching=_text(row, "branching_logic"),
        calculation=raw if ftype == "calc" else "",
        min=_text(row, "text_validation_min"), max=_text(row, "text_validation_max"),
        note=_text(row, "field_note"), annotation=_text(row, "field_annotation"),
    )


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def build_schema(
    metadata: Sequence[Mapping[str, Any]],
    *,
    project_info: Mapping[str, Any] | None = None,
    events: Iterable[Mapping[str, Any]] = (),
    arms: Iterable[Mapping[str, Any]] = (),
    form_event_mapping: Iterable[Mapping[str, Any]] = (),
    repeating: Iterable[Mapping[str, Any]] = (),
    profile: Profile | None = None,
    instruments: Iterable[Mapping[str, Any]] = (),
) -> RegistrySchema:
    """One schema from REDCap's exports (metadata, project info, event, arm,
    formEventMapping, repeatingFormsEvents, instrument, as the API gives them) and a
    profile.

    The profile is checked against the project: a form, frame or event it names that
    the project lacks raises `ProfileError` naming the file and the key. A field it
    names that the dictionary lacks does not: the columns and rules that need it
    become `error` results on the night (a field renamed between nights must not
    stop the dictionary checks, nor resolve flags).
    """
    if not metadata:
        raise SchemaError("the project has no data dictionary: pull again or check the "
                          "API token's rights to export the dictionary")
    rows = tuple({k: ("" if v is None else str(v)) for k, v in m.items()} for m in metadata)
    fields: dict[str, FieldInfo] = {}
    forms: list[str] = []
    for row in rows:
        one = _field(row)
        fields.setdefault(one.name, one)
        if one.form not in forms:
            forms.append(one.form)
    labels = {form: form.replace("_", " ").capitalize() for form in forms}
    labels.update({_text(i, "instrument_name"): _text(i, "instrument_label")
                   for i in instruments
                   if _text(i, "instrument_name") in labels and _text(i, "instrument_label")})
    info = dict(project_info or {})

    event_list = []
    for ev in events:
        name = _text(ev, "unique_event_name")
        if name:
            event_list.append(Event(
                unique_name=name,
                label=_text(ev, "custom_event_label") or _text(ev, "event_name") or name,
                arm=_int(ev.get("arm_num")), event_id=_int(ev.get("event_id"))))
    arm_list = [Arm(number=n, name=_text(a, "name")) for a in arms
                if (n := _int(a.get("arm_num"))) is not None]
    form_events: dict[str, list[str]] = {}
    known_events = {ev.unique_name for ev in event_list}
    for m in form_event_mapping:
        form, ev_name = _text(m, "form"), _text(m, "unique_event_name")
        if form and ev_name:
            if known_events and ev_name not in known_events:
                raise SchemaError(f"REDCap's form-event mapping names event {ev_name!r}, "
                                  "which is not among the project's events")
            form_events.setdefault(form, []).append(ev_name)
    longitudinal = _truthy(info.get("is_longitudinal")) or bool(event_list) \
        or bool(form_events)

    rep_forms: set[tuple[str, str]] = set()
    rep_events: set[str] = set()
    for r in repeating:
        ev_name, form = _text(r, "event_name"), _text(r, "form_name")
        if form:
            rep_forms.add((ev_name, form))
        elif ev_name:
            rep_events.add(ev_name)

    schema = RegistrySchema(
        id_field=rows[0]["field_name"], metadata=rows, fields=fields, forms=tuple(forms),
        form_labels=labels, longitudinal=longitudinal, events=tuple(event_list),
        arms=tuple(arm_list),
        form_events={f: tuple(dict.fromkeys(evs)) for f, evs in form_events.items()},
        repeating_forms=frozenset(rep_forms), repeating_events=frozenset(rep_events),
        profile=profile, project_info=info,
    )
    if profile is not None:
        check_profile(profile, schema)
    return schema


def check_profile(profile: Profile, schema: RegistrySchema) -> None:
    """Refuse a form, frame or event the project does not have (one line each)."""
    forms = schema.forms
    for frame, form in profile.frames.items():
        if form not in forms:
            raise profile.fail(f"frames.{frame}", f"names form {form!r}, which the project "
                            f"does not have (forms: {', '.join(forms)})")
        if frame in forms and frame != form and frame not in profile.frames.values():
            raise profile.fail(f"frames.{frame}", f"is also the name of form {frame!r}; "
                            "give that form a frame name too, or pick another name")
    frames = schema.frames()
    if profile.patient is not None:
        if profile.patient.form not in forms:
            raise profile.fail("patient.form", f"names form {profile.patient.form!r}, which the "
                            f"project does not have (forms: {', '.join(forms)})")
        _check_event(profile, schema, "patient.event", profile.patient.event,
                          profile.patient.form)
        held = schema.events_of(profile.patient.form)
        arms = [schema.event(ev).arm for ev in held if schema.has_event(ev)]
        if not profile.patient.event and len(arms) != len(set(arms)):
            raise profile.fail("patient.event", f"is needed: form {profile.patient.form!r} is "
                            f"on several events of one arm ({', '.join(held)}); name the "
                            "one that holds the patient-level facts")
    for role, ref in profile.roles.items():
        form = schema.fields[ref.field].form if ref.field in schema.fields else ""
        _check_event(profile, schema, f"roles.{role}.event", ref.event, form)
    for col in profile.columns:
        key = f"columns.{col.name}"
        for attr in ("frame", "episodes"):
            name = getattr(col, attr)
            if name and name not in frames:
                raise profile.fail(f"{key}.{attr}", f"names frame {name!r}, which the "
                                f"project does not have (frames: {', '.join(frames)})")
        for name in (*col.frames, *col.on):
            if name not in frames:
                raise profile.fail(key, f"names frame {name!r}, which the project does not "
                                f"have (frames: {', '.join(frames)})")
        if col.role and col.role not in profile.roles:
            raise profile.fail(f"{key}.role", f"names role {col.role!r}, which [roles] does "
                            f"not declare (roles: {', '.join(profile.roles) or 'none'})")
        if col.event:
            form = ""
            if col.field and col.field in schema.fields:
                form = schema.fields[col.field].form
            elif col.frame:
                form = frames[col.frame]
            _check_event(profile, schema, f"{key}.event", col.event, form)

def _check_event(profile: Profile, schema: RegistrySchema, key: str, event: str,
                 form: str) -> None:
    if not event:
        return
    if not schema.longitudinal:
        raise profile.fail(key, f"names event {event!r} but the project is classic "
                        "(no events)")
    if not schema.has_event(event):
        names = ", ".join(ev.unique_name for ev in schema.events)
        raise profile.fail(key, f"names event {event!r}, which the project does not have "
                        f"(events: {names})")
    held = schema.events_of(form) if form else ()
    if form and schema.form_events and event not in held:
        raise profile.fail(key, f"names event {event!r}, which does not hold form {form!r} "
                        f"(it is on: {', '.join(held) or 'no event'})")

def missing_profile_fields(profile: Profile, schema: RegistrySchema) -> dict[str, str]:
    """Role or column key -> why the field it names is not in the dictionary (these are
    not refused at load: the rules needing them are errors on the night)."""
    named = [(f"roles.{role}", ref.field) for role, ref in profile.roles.items()]
    named += [(f"columns.{c.name}", c.field) for c in profile.columns if c.field]
    return {key: (f"registry profile {profile.source}: {key} names field {name!r}, which "
                  "the data dictionary does not have")
            for key, name in named if name not in schema.fields}


def schema_from_snapshot(metadata: Sequence[Mapping[str, Any]],
                         project_info: Mapping[str, Any] | None,
                         details: Mapping[str, Any] | None,
                         profile: Profile | None = None) -> RegistrySchema:
    """The schema of a snapshot, from what the pull kept with it.

    The pull keeps `repeating_forms`, `instruments`, `events`, `arms` and
    `form_event_mapping` in the snapshot's details and the project info (REDCap's
    object, or older callers' `{"project_info": ...}` wrapper) in its own column.
    """
    details = details or {}
    info = dict(project_info or {})
    if isinstance(info.get("project_info"), Mapping):
        info = dict(info["project_info"])
    return build_schema(
        metadata, project_info=info, events=details.get("events") or (),
        arms=details.get("arms") or (),
        form_event_mapping=details.get("form_event_mapping") or (),
        repeating=details.get("repeating_forms") or (), profile=profile,
        instruments=details.get("instruments") or (),
    )
