"""The registry profile: what REDCap cannot say about a registry, as a TOML file.

REDCap knows a project's forms, fields, events and repetition; it does not know which
form holds the patient-level facts, which field is the date of diagnosis or of death,
what the suites and studies call each form's frame, or which cross-form columns the
domain rules compare against ("a treatment starts after the diagnosis" needs the
diagnosis date on every treatment row). The profile says it, once per registry, so no
field name of any registry is written in Python. The format is in docs/design.md
("The registry profile"); `registries/anti_mda5/profile.toml` is an example.

Loading is strict: an unknown table or key, a wrong type or a column kind that does
not exist is refused with one line naming the file and the key.
`registry.schema.build_schema` then refuses a form, frame or event the project lacks;
a field the dictionary lacks is not refused there but makes every column and rule
that needs it an `error` result on the night.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.errors import RegistryError

__all__ = [
    "COLUMN_KINDS",
    "PATIENT_KINDS",
    "ROW_KINDS",
    "ColumnSpec",
    "PatientSpec",
    "Profile",
    "ProfileError",
    "RoleRef",
    "load_profile",
    "parse_profile",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REGISTRY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

#: Column kinds with one value per patient (computed on a patient table, then joined
#: onto the frames named in `on`, by default every frame).
PATIENT_KINDS = ("value", "first_of", "latest", "earliest", "count", "any",
                 "years_between")
#: Column kinds with one value per row of one frame.
ROW_KINDS = ("is_last", "previous", "in_episode_at", "duplicate_of")
COLUMN_KINDS = PATIENT_KINDS + ROW_KINDS

#: Keys each column kind takes (besides `kind`); the first group is required.
_KIND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "value": ((), ("role", "field", "event", "on")),
    "latest": ((), ("role", "field", "event", "on")),
    "earliest": ((), ("role", "field", "event", "on")),
    "first_of": (("columns",), ("on",)),
    "count": (("frame",), ("event", "on")),
    "any": (("frame",), ("event", "on")),
    "years_between": (("from", "to"), ("digits", "on")),
    "is_last": (("frame", "order_by"), ()),
    "previous": (("frame", "order_by", "column"), ()),
    "in_episode_at": (("frame", "at", "episodes", "start", "end"), ()),
    "duplicate_of": ((), ("frames",)),
}


class ProfileError(RegistryError):
    """The registry profile is malformed or names what the project does not have."""

    exit_code = 2


@dataclass(frozen=True)
class RoleRef:
    """A field playing a role, optionally on one event of a longitudinal project."""

    field: str
    event: str = ""


@dataclass(frozen=True)
class PatientSpec:
    """Where the patient-level facts are: one form (on one event, longitudinal)."""

    form: str
    event: str = ""


@dataclass(frozen=True)
class ColumnSpec:
    """One cross-form column, declared as data (see the kinds in docs/design.md).

    Unused keys stay empty. `columns` (first_of) and `from_`/`to` (years_between)
    name columns declared before this one; `field`/`role` name the source field of
    value/latest/earliest; `frame` is the frame counted (count/any) or the frame the
    row-level column is added to; `on` the frames a patient-level column is added to
    (empty: every frame).
    """

    name: str
    kind: str
    role: str = ""
    field: str = ""
    event: str = ""
    columns: tuple[str, ...] = ()
    frame: str = ""
    from_: str = ""
    to: str = ""
    digits: int = 1
    order_by: str = ""
    column: str = ""
    at: str = ""
    episodes: str = ""
    start: str = ""
    end: str = ""
    frames: tuple[str, ...] = ()
    on: tuple[str, ...] = ()

    @property
    def patient_level(self) -> bool:
        return self.kind in PATIENT_KINDS


@dataclass(frozen=True)
class Profile:
    """A parsed registry profile (`source` is the file it came from)."""

    name: str
    source: str
    title: str = ""
    patient: PatientSpec | None = None
    frames: Mapping[str, str] = field(default_factory=dict)       # frame name -> form
    roles: Mapping[str, RoleRef] = field(default_factory=dict)
    columns: tuple[ColumnSpec, ...] = ()

    def fail(self, key: str, what: str) -> ProfileError:
        """The one-line error for `key` of this profile."""
        return ProfileError(f"registry profile {self.source}: {key}: {what}")

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def source_of(self, col: ColumnSpec) -> RoleRef | None:
        """The field (and event) a value/latest/earliest column reads."""
        if col.role:
            return self.roles.get(col.role)
        if col.field:
            return RoleRef(col.field, col.event)
        return None


# --- parsing -----------------------------------------------------------------------------

class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, what: str) -> ProfileError:
        return ProfileError(f"registry profile {self.source}: {key}: {what}")

    def table(self, data: Mapping[str, Any], key: str, *, required: bool = False
              ) -> Mapping[str, Any]:
        if key not in data:
            if required:
                raise self.fail(f"[{key}]", "is missing")
            return {}
        value = data[key]
        if not isinstance(value, dict):
            raise self.fail(key, f"should be a table, got {type(value).__name__}")
        return value

    def known(self, table: Mapping[str, Any], where: str, keys: tuple[str, ...]) -> None:
        extra = [k for k in table if k not in keys]
        if extra:
            name = f"{where}.{extra[0]}" if where else extra[0]
            raise self.fail(name, f"unknown key (known: {', '.join(keys)})")

    def text(self, table: Mapping[str, Any], key: str, where: str, *, required: bool = False,
             name: bool = False) -> str:
        path = f"{where}.{key}" if where else key
        if key not in table:
            if required:
                raise self.fail(path, "is missing")
            return ""
        value = table[key]
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(path, f"should be a non-empty string, got {value!r}")
        if name and not _NAME.match(value):
            raise self.fail(path, f"{value!r} is not a name (letters, digits, '_')")
        return value.strip()

    def names(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        path = f"{where}.{key}"
        if key not in table:
            return ()
        value = table[key]
        if not isinstance(value, list) or not value or not all(
                isinstance(v, str) and _NAME.match(v) for v in value):
            raise self.fail(path, f"should be a non-empty list of names, got {value!r}")
        return tuple(value)


def _role(r: _Reader, role: str, value: Any) -> RoleRef:
    where = f"roles.{role}"
    if not _NAME.match(role):
        raise r.fail(where, f"{role!r} is not a name (letters, digits, '_')")
    if isinstance(value, str):
        if not _NAME.match(value):
            raise r.fail(where, f"{value!r} is not a field name")
        return RoleRef(value)
    if isinstance(value, dict):
        r.known(value, where, ("field", "event"))
        return RoleRef(r.text(value, "field", where, required=True, name=True),
                       r.text(value, "event", where))
    raise r.fail(where, f"should be a field name or {{ field = ..., event = ... }}, "
                 f"got {value!r}")


def _column(r: _Reader, name: str, value: Any, declared: list[ColumnSpec]) -> ColumnSpec:
    where = f"columns.{name}"
    if not _NAME.match(name):
        raise r.fail(where, f"{name!r} is not a column name (letters, digits, '_')")
    if not isinstance(value, dict):
        raise r.fail(where, "should be a table such as { kind = \"value\", role = \"birth\" }")
    kind = r.text(value, "kind", where, required=True)
    if kind not in _KIND_KEYS:
        raise r.fail(f"{where}.kind", f"{kind!r} is not a column kind (kinds: "
                     f"{', '.join(COLUMN_KINDS)})")
    needed, optional = _KIND_KEYS[kind]
    r.known(value, where, ("kind", *needed, *optional))
    for key in needed:
        if key not in value:
            raise r.fail(f"{where}.{key}", f"is missing (a {kind} column needs "
                         f"{', '.join(needed)})")
    earlier = {c.name: c for c in declared}
    spec: dict[str, Any] = {"name": name, "kind": kind}
    for key in ("role", "field", "event", "frame", "order_by", "column", "at", "episodes",
                "start", "end"):
        if key in value:
            spec[key] = r.text(value, key, where, required=True, name=key != "event")
    for key in ("from", "to"):
        if key in value:
            ref = r.text(value, key, where, required=True, name=True)
            if ref not in earlier or not earlier[ref].patient_level:
                raise r.fail(f"{where}.{key}", f"names {ref!r}, which is not a patient-level "
                             "column declared above it")
            spec["from_" if key == "from" else key] = ref
    if "columns" in value:
        refs = r.names(value, "columns", where)
        for ref in refs:
            if ref not in earlier or not earlier[ref].patient_level:
                raise r.fail(f"{where}.columns", f"names {ref!r}, which is not a "
                             "patient-level column declared above it")
        spec["columns"] = refs
    for key in ("frames", "on"):
        if key in value:
            spec[key] = r.names(value, key, where)
    if "digits" in value:
        digits = value["digits"]
        if not isinstance(digits, int) or isinstance(digits, bool) or not 0 <= digits <= 6:
            raise r.fail(f"{where}.digits", f"should be a whole number 0-6, got {digits!r}")
        spec["digits"] = digits
    if kind in ("value", "latest", "earliest"):
        if ("role" in spec) == ("field" in spec):
            raise r.fail(where, f"a {kind} column names either role or field (one of them)")
        if "role" in spec and "event" in spec:
            raise r.fail(f"{where}.event", "give the event with the role in [roles]")
    return ColumnSpec(**spec)


def parse_profile(data: Mapping[str, Any], source: str = "<profile>") -> Profile:
    """A Profile from the parsed TOML of a profile file (strictly checked)."""
    r = _Reader(source)
    r.known(data, "", ("registry", "patient", "frames", "roles", "columns"))
    reg = r.table(data, "registry", required=True)
    r.known(reg, "registry", ("name", "title"))
    name = r.text(reg, "name", "registry", required=True)
    if not _REGISTRY_NAME.match(name):
        raise r.fail("registry.name", f"{name!r} should be lower-case letters, digits, "
                     "'-' or '_'")
    patient = None
    if "patient" in data:
        pt = r.table(data, "patient")
        r.known(pt, "patient", ("form", "event"))
        patient = PatientSpec(r.text(pt, "form", "patient", required=True, name=True),
                              r.text(pt, "event", "patient"))
    frames: dict[str, str] = {}
    for frame, form in r.table(data, "frames").items():
        if not _NAME.match(frame):
            raise r.fail(f"frames.{frame}", f"{frame!r} is not a frame name (letters, digits, "
                         "'_')")
        if not isinstance(form, str) or not _NAME.match(form):
            raise r.fail(f"frames.{frame}", f"should be a form name, got {form!r}")
        if form in frames.values():
            raise r.fail(f"frames.{frame}", f"form {form!r} already has a frame name")
        frames[frame] = form
    roles = {role: _role(r, role, value) for role, value in r.table(data, "roles").items()}
    columns: list[ColumnSpec] = []
    for col_name, value in r.table(data, "columns").items():
        columns.append(_column(r, col_name, value, columns))
    return Profile(name=name, source=source, title=r.text(reg, "title", "registry"),
                   patient=patient, frames=frames, roles=roles, columns=tuple(columns))


_CACHE: dict[tuple[str, int, int], Profile] = {}


def load_profile(path: str | Path) -> Profile:
    """Read and check one profile file (cached while the file is unchanged)."""
    path = Path(path)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if key in _CACHE:
            return _CACHE[key]
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"registry profile {path} not found; fix [registry] profile in "
                           "settings.toml") from None
    except OSError as exc:
        raise ProfileError(f"registry profile {path} cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ProfileError(f"registry profile {path} is not UTF-8 text (byte {exc.start})") \
            from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"registry profile {path}: not valid TOML: {exc}") from None
    profile = parse_profile(data, str(path))
    _CACHE[key] = profile
    return profile
