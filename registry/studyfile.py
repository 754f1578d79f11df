"""A study file read against the registry's schema: roles resolved, names checked.

`analyses/` is pure statistics and accepts any frame name; the registry side knows the
project. Before a study runs, `read_study` (1) replaces every `{ role = "..." }`
reference by the frame, column and event of the field the registry profile gives that
role (`[time] entry = { role = "entry" }`, `origin = { role = "diagnosis" }`), so a study
can be written once for any registry whose profile declares the roles, and (2) checks
every frame, column and event the study names against the schema: a name the project
lacks is refused with one line naming the file and the key, before any number is
computed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import AnalysisInputError
from registry.schema import RegistrySchema

if TYPE_CHECKING:
    from analyses import StudySpec

__all__ = ["check_study", "read_study", "resolve_roles"]


def _fail(source: str, key: str, what: str) -> AnalysisInputError:
    return AnalysisInputError(f"study file {source}: {key}: {what}")


def resolve_roles(data: Any, schema: RegistrySchema | None, source: str,
                  key: str = "") -> Any:
    """The parsed study with each `{ role = name }` table (optionally with `event`)
    replaced by `{ frame, column, event }` from the profile's roles."""
    if isinstance(data, list):
        return [resolve_roles(v, schema, source, f"{key}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, dict):
        return data
    if "role" in data and set(data) <= {"role", "event"}:
        return _role_ref(data, schema, source, key)
    return {k: resolve_roles(v, schema, source, f"{key}.{k}" if key else k)
            for k, v in data.items()}


def _role_ref(data: Mapping[str, Any], schema: RegistrySchema | None, source: str,
              key: str) -> dict[str, str]:
    role = data["role"]
    profile = schema.profile if schema is not None else None
    if profile is None:
        raise _fail(source, key, f"names role {role!r} but settings.toml names no registry "
                    "profile ([registry] profile) to say which field plays it")
    ref = profile.roles.get(str(role))
    if ref is None:
        raise _fail(source, key, f"names role {role!r}, which the registry profile "
                    f"{profile.source} does not declare (roles: "
                    f"{', '.join(profile.roles) or 'none'})")
    assert schema is not None
    info = schema.fields.get(ref.field)
    if info is None:
        raise _fail(source, key, f"role {role!r} is field {ref.field!r} (registry profile "
                    f"{profile.source}), which the data dictionary does not have")
    out = {"frame": schema.frame_of(info.form), "column": ref.field}
    event = str(data.get("event") or ref.event)
    if event:
        out["event"] = event
    return out


def _names(spec: StudySpec) -> Iterator[tuple[str, str, str, str, str]]:
    """(table key, column key, frame, column or "", event) of every name a study uses."""
    refs = [("time.origin", spec.origin), ("time.censor", spec.censor)]
    if spec.entry is not None:
        refs.append(("time.entry", spec.entry))
    refs += [(f"outcome.event_dates[{i}]", r) for i, r in enumerate(spec.outcome_dates)]
    for key, ref in refs:
        yield key, key, ref.frame, ref.column, ref.event
    ex = spec.exposure
    for attr in ("class_column", "start", "stop", "ongoing"):
        yield "exposure", f"exposure.{attr}", ex.frame, getattr(ex, attr), ex.event
    for i, v in enumerate(spec.variables):
        event = getattr(v, "event", "")
        for attr in ("column", "start", "stop"):
            yield f"variables[{i}]", f"variables[{i}].{attr}", v.frame, getattr(v, attr), event
    if spec.infections is not None:
        inf = spec.infections
        for attr in ("date", "severity_column"):
            yield "infections", f"infections.{attr}", inf.frame, getattr(inf, attr), inf.event


def check_study(spec: StudySpec, schema: RegistrySchema, source: str) -> None:
    """Refuse a frame, column or event the project does not have (one line)."""
    frames = schema.frames()
    columns = schema.field_columns()
    for table, key, frame, column, event in _names(spec):
        if frame not in frames:
            raise _fail(source, f"{table}.frame", f"names frame {frame!r}, which the project "
                        f"does not have (frames: {', '.join(frames)})")
        form = frames[frame]
        if column and (column not in columns or schema.fields[columns[column]].form != form):
            raise _fail(source, key, f"names column {column!r}, which is not a field of "
                        f"frame {frame!r} (form {form!r}) in the data dictionary")
        if event:
            if not schema.has_event(event):
                names = ", ".join(ev.unique_name for ev in schema.events) or "none: classic"
                raise _fail(source, f"{table}.event", f"names event {event!r}, which the "
                            f"project does not have (events: {names})")
            if schema.form_events and event not in schema.events_of(form):
                raise _fail(source, f"{table}.event", f"names event {event!r}, which does "
                            f"not hold form {form!r} (it is on: "
                            f"{', '.join(schema.events_of(form))})")


#: A study's name names its files (`<name>.pdf`, `.json`, `-matched.csv`), so, like a
#: site's, it can never hold a path separator or be `..`.
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def read_study(path: Path, schema: RegistrySchema | None = None) -> StudySpec:
    """Read a study file, resolve its roles and (given the schema) check its names."""
    from analyses import AnalysisError, study_from_mapping

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AnalysisInputError(f"study file {path} cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise AnalysisInputError(f"study file {path} is not UTF-8 text (byte {exc.start})") \
            from None
    except tomllib.TOMLDecodeError as exc:
        raise AnalysisInputError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    data = resolve_roles(data, schema, str(path))
    try:
        spec = study_from_mapping(data, source=str(path))
    except AnalysisError as exc:
        raise AnalysisInputError(exc.message) from exc
    if not STUDY_NAME.match(spec.name):
        raise AnalysisInputError(
            f"{path}: study.name {spec.name!r} should be letters, digits, '-' or '_' "
            "(at most 64; it names the study's report files)")
    if schema is not None:
        check_study(spec, schema, str(path))
    return spec
