"""A REDCap project kept as files, the way REDCap clients keep test projects.

A project folder holds:
- `dictionary.csv`: the data dictionary as REDCap's Dictionary page downloads it (its
  human headers, "Variable / Field Name", "Form Name", ...) or as the API's metadata
  CSV (`field_name`, `form_name`, ...); legacy validation names (`int`, `float`,
  `date`, ...) are read as the API names them (`integer`, `number`, `date_ymd`, ...);
- `records.csv`: the stored data as `content=record&type=flat&rawOrLabel=raw` exports
  it in CSV: the id field, then `redcap_event_name`, `redcap_repeat_instrument`,
  `redcap_repeat_instance`, `redcap_data_access_group` where they apply, then the
  export columns. It is stored as is: values REDCap would refuse today stay and are
  served; columns the dictionary does not have are set aside (`ignored_columns`);
- where they apply, each as the API exports that content: `events.csv`, `arms.csv`,
  `formEventMapping.csv`, `repeatingFormsEvents.csv`, `dags.csv`, and `project.json`
  (project info); `instruments.csv` (`content=instrument`) gives the form labels;
- `users.csv`, optional: the project's users as `content=user` exports them
  (`username, email, firstname, lastname, expiration, data_access_group`) plus `role`,
  a role label (`Data manager`, `Site coordinator`, `Data entry`; blank: data entry).
  The sandbox's API users (`sandbox_admin`, `sandbox_<dag>`) are always there; these
  stand in for the invented entry and former users.

`read_folder(path)` reads one (a missing or malformed file is a `RegistryError`
naming it); `write_folder(path, ...)` writes one, as the scenario generators do.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.errors import RegistryError
from registry.sandbox.design import Design
from registry.sandbox.roster import ROLES
from registry.sandbox.schema import Schema

__all__ = ["DICTIONARY_HEADERS", "METADATA_COLUMNS", "FolderError", "ProjectFolder",
           "read_folder", "write_folder"]

#: The API's metadata columns, in order.
METADATA_COLUMNS = (
    "field_name", "form_name", "section_header", "field_type", "field_label",
    "select_choices_or_calculations", "field_note", "text_validation_type_or_show_slider_number",
    "text_validation_min", "text_validation_max", "identifier", "branching_logic",
    "required_field", "custom_alignment", "question_number", "matrix_group_name",
    "matrix_ranking", "field_annotation")
#: The Dictionary page's download headers, in the same order.
DICTIONARY_HEADERS = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
    "Matrix Ranking?", "Field Annotation")
_HUMAN = dict(zip(DICTIONARY_HEADERS, METADATA_COLUMNS, strict=True))
_LEGACY = {"int": "integer", "float": "number", "date": "date_ymd",
           "datetime": "datetime_ymd", "datetime_seconds": "datetime_seconds_ymd"}
_SPECIAL = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
            "redcap_data_access_group")
_FILES = {"events": "events.csv", "arms": "arms.csv", "mapping": "formEventMapping.csv",
          "repeating": "repeatingFormsEvents.csv", "dags": "dags.csv",
          "instruments": "instruments.csv", "users": "users.csv"}
_USER_COLUMNS = ("username", "email", "firstname", "lastname", "expiration",
                 "data_access_group")
_EXPIRATION = re.compile(r"\d{4}-\d{2}-\d{2}")


class FolderError(RegistryError):
    """A project folder is missing a file or holds one the sandbox cannot read."""

    exit_code = 2


@dataclass
class ProjectFolder:
    """What a project folder holds, in the shapes the sandbox serves."""

    path: Path
    metadata: list[dict[str, str]]
    records: list[dict[str, str]]
    design: Design
    dags: list[dict[str, Any]] = field(default_factory=list)
    project_info: dict[str, Any] | None = None
    form_labels: dict[str, str] = field(default_factory=dict)
    users: list[dict[str, str]] | None = None
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def id_field(self) -> str:
        return self.metadata[0]["field_name"]


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FolderError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
        rows = [dict(zip(header, row, strict=True)) if len(row) == len(header)
                else _ragged(path, header, row, n) for n, row in enumerate(reader, start=2)]
    except StopIteration:
        raise FolderError(f"{path}: empty file (a header row is needed)") from None
    except csv.Error as exc:
        raise FolderError(f"{path}: not a CSV file the sandbox can read ({exc})") from exc
    return [r for r in rows if any(r.values())]  # a trailing blank line is no row


def _ragged(path: Path, header: list[str], row: list[str], line: int) -> dict[str, str]:
    if len(row) > len(header) and any(row[len(header):]):
        raise FolderError(f"{path}: row {line} has {len(row)} cells for {len(header)} columns")
    return dict(zip(header, (row + [""] * len(header))[:len(header)], strict=True))


def _optional(path: Path) -> list[dict[str, str]]:
    return _read_csv(path) if path.exists() else []


def read_dictionary(path: Path) -> list[dict[str, str]]:
    """Dictionary rows with the API's column names, from either header style."""
    rows = _read_csv(path)
    if not rows:
        raise FolderError(f"{path}: the data dictionary has no fields")
    head = list(rows[0])
    if head[0] in _HUMAN:
        rows = [{_HUMAN.get(k, k): v for k, v in r.items()} for r in rows]
    elif head[0] != "field_name":
        raise FolderError(f"{path}: first column is {head[0]!r}; expected 'Variable / Field "
                          "Name' (Dictionary page download) or 'field_name' (API metadata)")
    out = []
    for row in rows:
        if not row.get("field_name", "").strip():
            continue  # a blank line some editors leave at the end
        meta = {c: row.get(c, "") for c in METADATA_COLUMNS}
        vtype = meta["text_validation_type_or_show_slider_number"]
        if meta["field_type"] == "text":
            meta["text_validation_type_or_show_slider_number"] = _LEGACY.get(vtype, vtype)
        out.append(meta)
    for key in ("field_name", "form_name", "field_type"):
        blank = next((r["field_name"] or f"row {i + 2}" for i, r in enumerate(out)
                      if not r[key]), None)
        if blank:
            raise FolderError(f"{path}: {blank} has no {key}")
    return out


def _columns(metadata: Sequence[Mapping[str, str]]) -> set[str]:
    return set(Schema([dict(m) for m in metadata]).column_index)


def read_folder(path: Path | str) -> ProjectFolder:
    """Read a project folder (see the module docstring for what it holds)."""
    root = Path(path)
    if not root.is_dir():
        raise FolderError(f"{root}: no such project folder")
    for needed in ("dictionary.csv", "records.csv"):
        if not (root / needed).exists():
            raise FolderError(f"{root / needed}: missing (a project folder needs "
                              "dictionary.csv and records.csv)")
    metadata = read_dictionary(root / "dictionary.csv")
    records = _read_csv(root / "records.csv")
    tables = {k: _optional(root / name) for k, name in _FILES.items()}
    info: dict[str, Any] | None = None
    if (root / "project.json").exists():
        try:
            info = json.loads((root / "project.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FolderError(f"{root / 'project.json'}: not JSON ({exc.msg}, line "
                              f"{exc.lineno})") from exc
        if not isinstance(info, dict):
            raise FolderError(f"{root / 'project.json'}: expected one JSON object")
    design = Design.from_rows(events=tables["events"], arms=tables["arms"],
                              mapping=tables["mapping"], repeating=tables["repeating"])
    folder = ProjectFolder(
        path=root, metadata=metadata, records=records, design=design,
        dags=[{"data_access_group_name": d.get("data_access_group_name", ""),
               "unique_group_name": d["unique_group_name"],
               "data_access_group_id": int(d["data_access_group_id"])} for d in tables["dags"]],
        project_info=info,
        form_labels={r["instrument_name"]: r.get("instrument_label", "")
                     for r in tables["instruments"]})
    if (root / "users.csv").exists():
        folder.users = _users(root / "users.csv", tables["users"],
                              {d["unique_group_name"] for d in folder.dags})
    _check(folder)
    return folder


def _users(path: Path, rows: list[dict[str, str]], dags: set[str]) -> list[dict[str, str]]:
    """users.csv's rows as the sandbox's users (`dag` and `role` keys), each checked."""
    missing = [c for c in ("username", "email") if rows and c not in rows[0]]
    if missing:
        raise FolderError(f"{path}: no {missing[0]} column")
    out: list[dict[str, str]] = []
    for line, row in enumerate(rows, start=2):
        user = {c: (row.get(c) or "").strip() for c in _USER_COLUMNS}
        name, dag = user["username"], user.pop("data_access_group")
        role = (row.get("role") or "").strip() or "Data entry"
        where = f"{path}: row {line}"
        if not name:
            raise FolderError(f"{where} has no username")
        if any(u["username"] == name for u in out) or name == "sandbox_admin" or \
                name in {f"sandbox_{d}" for d in dags}:
            raise FolderError(f"{where}: username {name!r} is there twice (the sandbox's "
                              "API users sandbox_admin and sandbox_<dag> are its own)")
        if dag and dag not in dags:
            raise FolderError(f"{where}: data_access_group {dag!r} is not in dags.csv")
        if role not in ROLES.values():
            raise FolderError(f"{where}: role {role!r} is not one of "
                              f"{', '.join(sorted(ROLES.values()))}")
        if user["expiration"] and not _EXPIRATION.fullmatch(user["expiration"]):
            raise FolderError(f"{where}: expiration {user['expiration']!r} is not YYYY-MM-DD")
        out.append({**user, "dag": dag, "role": role})
    return out


def _check(folder: ProjectFolder) -> None:
    """Refuse what the sandbox could not serve faithfully, naming the file and the key."""
    root, design = folder.path, folder.design
    head = list(folder.records[0]) if folder.records else []
    id_field = folder.id_field
    if folder.records and head[0] != id_field:
        raise FolderError(f"{root / 'records.csv'}: first column is {head[0]!r}; the "
                          f"dictionary's record id field is {id_field!r}")
    forms = {m["form_name"] for m in folder.metadata}
    for _event, form in design.repeating_forms:
        if form not in forms:
            raise FolderError(f"{root / 'repeatingFormsEvents.csv'}: form {form!r} is not in "
                              "the dictionary")
    if design.longitudinal:
        if not design.form_events:
            raise FolderError(f"{root / 'formEventMapping.csv'}: missing or empty (a "
                              "longitudinal project needs its form-event mapping)")
        for event, names in design.form_events.items():
            if design.event(event) is None:
                raise FolderError(f"{root / 'formEventMapping.csv'}: event {event!r} is not in "
                                  "events.csv")
            bad = [f for f in names if f not in forms]
            if bad:
                raise FolderError(f"{root / 'formEventMapping.csv'}: form {bad[0]!r} is not in "
                                  "the dictionary")
        bad_events = {r.get("redcap_event_name", "") for r in folder.records} - set(
            design.event_names)
        if bad_events:
            raise FolderError(f"{root / 'records.csv'}: event {sorted(bad_events)[0]!r} is not "
                              "in events.csv")
    elif "redcap_event_name" in head:
        raise FolderError(f"{root / 'records.csv'}: has redcap_event_name but the folder has "
                          "no events.csv")
    dag_names = {d["unique_group_name"] for d in folder.dags}
    used = {r.get("redcap_data_access_group", "") for r in folder.records} - {""}
    if used - dag_names:
        raise FolderError(f"{root / 'records.csv'}: data access group "
                          f"{sorted(used - dag_names)[0]!r} is not in dags.csv")
    known = _columns(folder.metadata)
    folder.ignored_columns = [c for c in head if c not in known and c not in _SPECIAL]


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]], header: Sequence[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(header), lineterminator="\n",
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: ("" if r.get(k) is None else r.get(k)) for k in header}
                         for r in rows)


def write_folder(path: Path | str, *, metadata: Sequence[Mapping[str, str]],
                 records: Sequence[Mapping[str, Any]], design: Design | None = None,
                 dags: Sequence[Mapping[str, Any]] = (),
                 project_info: Mapping[str, Any] | None = None,
                 form_labels: Mapping[str, str] | None = None,
                 human_headers: bool = False) -> Path:
    """Write a project folder; `records` are flat export rows (their keys in any order,
    written in export order). Returns the folder's path."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    design = design or Design()
    if human_headers:
        rows = [{h: m.get(c, "") for h, c in _HUMAN.items()} for m in metadata]
        _write_csv(root / "dictionary.csv", rows, DICTIONARY_HEADERS)
    else:
        _write_csv(root / "dictionary.csv", metadata, METADATA_COLUMNS)
    schema = Schema([dict(m) for m in metadata], design)
    head = [schema.id_field]
    head += ["redcap_event_name"] if design.longitudinal else []
    head += ["redcap_repeat_instrument", "redcap_repeat_instance"] if design.has_repeating \
        else []
    head += ["redcap_data_access_group"] if dags else []
    head += [c.name for c in schema.columns if c.name != schema.id_field]
    _write_csv(root / "records.csv", records, head)
    if design.longitudinal:
        _write_csv(root / "events.csv", design.event_rows(), list(design.event_rows()[0]))
        _write_csv(root / "arms.csv", design.arm_rows(), ["arm_num", "name"])
        _write_csv(root / "formEventMapping.csv", design.mapping_rows(),
                   ["arm_num", "unique_event_name", "form"])
    if design.has_repeating:
        rows = design.repeating_rows()
        _write_csv(root / "repeatingFormsEvents.csv", rows, list(rows[0]))
    if dags:
        _write_csv(root / "dags.csv", dags, ["data_access_group_name", "unique_group_name",
                                             "data_access_group_id"])
    if project_info is not None:
        (root / "project.json").write_text(json.dumps(project_info, indent=2,
                                                      ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    if form_labels:
        _write_csv(root / "instruments.csv",
                   [{"instrument_name": f, "instrument_label": lab}
                    for f, lab in form_labels.items()], ["instrument_name", "instrument_label"])
    return root
