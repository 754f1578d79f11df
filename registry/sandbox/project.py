"""In-memory state of one sandbox REDCap project, and the operations the API runs on it.

Records are indexed by id, each as rows keyed `(event, repeat form, instance)` (see
`registry.sandbox.export`), with the times its data changed; a log of record
creations, updates and deletions and of design changes and dictionary downloads
(REDCap's "Manage/Design" events, logtype `manage`); the project's data access groups
(DAGs); and API
tokens scoped to the whole project or to one DAG. Every method takes the caller's
`Scope`, so a DAG token sees only its own records (REDCAP_API.md §4). All access goes
through one lock: the HTTP server is threaded.

Stored data is kept as given: a value REDCap would refuse today (left over from a
dictionary change) stays and is served; only imports are validated.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry.sandbox.clock import Clock, SystemClock
from registry.sandbox.design import Design
from registry.sandbox.export import ExportOptions, export_rows
from registry.sandbox.folder import ProjectFolder
from registry.sandbox.records import RowKey, StoredRecord, natural_key, row_key
from registry.sandbox.schema import Column, Schema
from registry.sandbox.tokens import Scope, Tokens, new_token

__all__ = ["LogEntry", "Project", "RowKey", "Scope", "StoredRecord", "Tokens", "natural_key",
           "row_key"]

_INTEGER = re.compile(r"^\d+$")
_DAG_KEY = "redcap_data_access_group"
_SPECIAL = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance", _DAG_KEY)


@dataclass(frozen=True)
class LogEntry:
    ts: datetime
    username: str
    action: str
    details: str
    record: str
    dag: str
    logtype: str  # record_add | record_edit | record_delete | manage

    def as_row(self) -> dict[str, str]:
        return {"timestamp": self.ts.strftime("%Y-%m-%d %H:%M"), "username": self.username,
                "action": self.action, "details": self.details, "record": self.record}


class Project:
    """A REDCap project (classic or longitudinal, repeating forms/events, DAGs) in memory.

    `repeating`: the project's `Design`, or the names of a classic project's repeating
    forms; `form_labels`: instrument labels, where known; `users`: the project's users
    besides the API users (`registry.sandbox.roster`), None for invented ones."""

    def __init__(self, metadata: Sequence[Mapping[str, str]], dags: Sequence[Mapping[str, Any]],
                 rows: Iterable[Mapping[str, Any]] = (), *,
                 repeating: Design | Sequence[str] = (),
                 project_info: Mapping[str, Any] | None = None, clock: Clock | None = None,
                 project_id: int = 17, form_labels: Mapping[str, str] | None = None,
                 users: Sequence[Mapping[str, str]] | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.created = self.clock.now()
        self._schema = Schema([dict(r) for r in metadata], repeating, dict(form_labels or {}))
        self.dags = [dict(d) for d in dags]
        self.folder_users = None if users is None else [dict(u) for u in users]
        self.dag_ids = {d["unique_group_name"]: int(d["data_access_group_id"]) for d in self.dags}
        self.dag_labels = {d["unique_group_name"]: d["data_access_group_name"] for d in self.dags}
        self.project_id = int((project_info or {}).get("project_id") or project_id)
        self.project_info = dict(project_info) if project_info else self._default_info()
        self.lock = threading.RLock()
        self.records: dict[str, StoredRecord] = {}
        self.log: list[LogEntry] = []
        self._sorted: list[str] | None = None
        self.tokens = Tokens(project=new_token(),
                             by_dag={dag: new_token() for dag in self.dag_ids})
        self._scopes = {self.tokens.project: Scope("sandbox_admin")}
        self._scopes.update({tok: Scope(f"sandbox_{dag}", dag)
                             for dag, tok in self.tokens.by_dag.items()})
        self._load(rows)

    @classmethod
    def from_registry(cls, registry: Any, *, clock: Clock | None = None) -> Project:
        """Build from a `SyntheticRegistry` (metadata, dags, records, repeating, project_info)."""
        repeating = getattr(registry, "repeating", None) or []
        rows = [r if isinstance(r, Mapping) else {"form_name": str(r), "custom_form_label": ""}
                for r in repeating]
        return cls(registry.metadata, registry.dags, registry.records,
                   repeating=Design.from_rows(repeating=rows),
                   project_info=getattr(registry, "project_info", None), clock=clock,
                   form_labels=getattr(registry, "form_labels", None))

    @classmethod
    def from_folder(cls, folder: ProjectFolder, *, clock: Clock | None = None) -> Project:
        """Build from a read project folder. Project info says what the folder says,
        but `is_longitudinal` and `has_repeating_instruments_or_events` follow its
        design (REDCap computes them)."""
        info = dict(folder.project_info) if folder.project_info is not None else None
        if info is not None:
            info["is_longitudinal"] = 1 if folder.design.longitudinal else 0
            info["has_repeating_instruments_or_events"] = 1 if folder.design.has_repeating \
                else 0
        project = cls(folder.metadata, folder.dags, folder.records, repeating=folder.design,
                      project_info=info, clock=clock, form_labels=folder.form_labels,
                      users=folder.users)
        if info is None:
            project.project_info["project_title"] = folder.path.name
            project.project_info["project_notes"] = f"Served from {folder.path.name}/ by " \
                                                    "`registry sandbox --project`."
        return project

    @property
    def design(self) -> Design:
        return self.schema.design

    # -- the design ----------------------------------------------------------------
    @property
    def schema(self) -> Schema:
        """The data dictionary and the project's design (events, repeating setup)."""
        return self._schema

    @schema.setter
    def schema(self, schema: Schema) -> None:
        self.change_design(schema)

    def change_design(self, schema: Schema, *, username: str = "sandbox_designer",
                      details: str = "Upload data dictionary") -> None:
        """Replace the dictionary and design, logged as REDCap logs a design change: a
        "Manage/Design" event (logtype `manage`) in no DAG, so a pull that reads the log
        learns that the project's design changed."""
        with self.lock:
            self._schema = schema
            self.log_manage(username, details)

    def log_manage(self, username: str, details: str) -> None:
        """Log a "Manage/Design" event: a design change, or a dictionary download (REDCap
        logs `Download data dictionary (API)` under the same type)."""
        with self.lock:
            self.log.append(LogEntry(self.clock.now(), username, "Manage/Design", details,
                                     "", "", "manage"))

    # -- tokens --------------------------------------------------------------------
    def scope_for(self, token: str) -> Scope | None:
        return self._scopes.get(token)

    # -- loading -------------------------------------------------------------------
    def _load(self, rows: Iterable[Mapping[str, Any]]) -> None:
        id_field, now = self.schema.id_field, self.created
        columns = self.schema.column_index
        for row in rows:
            rid = str(row[id_field])
            rec = self.records.get(rid)
            if rec is None:
                rec = self.records[rid] = StoredRecord(rid, str(row.get(_DAG_KEY, "") or ""),
                                                       changes=[now])
                self.log.append(LogEntry(now, "sandbox_generator", f"Create record {rid}",
                                         "", rid, rec.dag, "record_add"))
            elif not rec.dag and row.get(_DAG_KEY):
                rec.dag = str(row[_DAG_KEY])
            values = {k: str(v) for k, v in row.items()
                      if v not in ("", None) and k in columns and k != id_field}
            rec.rows.setdefault(row_key(self.design, row), {}).update(_drop_gray(values,
                                                                                 columns))
        self._sorted = None

    def _default_info(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id, "project_title": "Anti-MDA5 DM registry (sandbox)",
            "creation_time": self.created.strftime("%Y-%m-%d %H:%M:%S"),
            "production_time": self.created.strftime("%Y-%m-%d %H:%M:%S"), "in_production": 1,
            "project_language": "English", "purpose": 2, "purpose_other": "",
            "project_notes": "Synthetic registry served by `registry sandbox`.",
            "custom_record_label": "", "secondary_unique_field": "",
            "is_longitudinal": 1 if self.design.longitudinal else 0,
            "has_repeating_instruments_or_events": 1 if self.schema.has_repeating else 0,
            "surveys_enabled": 0, "scheduling_enabled": 1 if self.design.scheduling else 0,
            "record_autonumbering_enabled": 1,
            "randomization_enabled": 0, "ddp_enabled": 0, "project_irb_number": "",
            "project_grant_number": "", "project_pi_firstname": "", "project_pi_lastname": "",
            "display_today_now_button": 1, "missing_data_codes": "", "external_modules": "",
            "bypass_branching_erase_field_prompt": 0,
        }

    # -- reading -------------------------------------------------------------------
    def _sorted_ids(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.records, key=natural_key)
        return self._sorted

    def visible_ids(self, scope: Scope, wanted: Sequence[str] | None = None) -> list[str]:
        """Record ids the caller may see, in REDCap's order; unknown wanted ids are omitted."""
        with self.lock:
            if wanted:
                ids = sorted({w for w in wanted if w in self.records}, key=natural_key)
            else:
                ids = list(self._sorted_ids())
            if scope.dag is not None:
                ids = [i for i in ids if self.records[i].dag == scope.dag]
            return ids

    def changed_between(self, ids: Iterable[str], begin: datetime | None,
                        end: datetime | None) -> list[str]:
        """Ids whose data changed at a time in [begin, end] (both inclusive, to the second)."""
        out = []
        with self.lock:
            for rid in ids:
                rec = self.records.get(rid)
                if rec is None:  # deleted since the caller listed it
                    continue
                changes = rec.changes
                lo = 0 if begin is None else bisect.bisect_left(changes, begin)
                if lo < len(changes) and (end is None or changes[lo] <= end):
                    out.append(rid)
        return out

    def export_rows(self, ids: Sequence[str], columns: Sequence[Column], *, dag_column: bool,
                    label: bool = False, checkbox_labels: bool = False,
                    blank_gray: bool = False, events: Sequence[str] | None = None
                    ) -> list[dict[str, Any]]:
        """Flat rows for these records and columns, as REDCap exports them (§2)."""
        opts = ExportOptions(dag_column=dag_column, label=label, checkbox_labels=checkbox_labels,
                             blank_gray=blank_gray, events=events)
        with self.lock:
            records = [self.records[i] for i in ids if i in self.records]
            return export_rows(self.schema, records, columns, opts, self.dag_labels)

    # -- writing -------------------------------------------------------------------
    def next_record_name(self, scope: Scope) -> str:
        """REDCap's auto-number (§4): `<group id>-<n+1>` in a DAG, else max integer + 1."""
        with self.lock:
            if scope.dag is not None:
                gid = self.dag_ids[scope.dag]
                pat = re.compile(rf"^{gid}-(\d+)$")
                ns = [int(m.group(1)) for r in self.records if (m := pat.match(r))]
                return f"{gid}-{max(ns, default=0) + 1}"
            ints = [int(r) for r in self.records if _INTEGER.match(r)]
            return str(max(ints, default=0) + 1)

    def import_rows(self, scope: Scope, rows: Sequence[Mapping[str, str]], *,
                    overwrite: bool = False, auto_number: bool = False) -> list[tuple[str, str]]:
        """Apply validated flat rows; return (stored id, sent id) per record, in order.

        Blank values are skipped unless `overwrite`; a new record joins the caller's DAG
        (or the DAG named in `redcap_data_access_group` for a project-wide caller); a
        record whose data changed gets a modification time and a log entry."""
        id_field = self.schema.id_field
        with self.lock:
            now = self.clock.now()
            renamed: dict[str, str] = {}
            changed: dict[str, list[str]] = {}
            created: set[str] = set()
            for row in rows:
                sent = str(row[id_field])
                if sent not in renamed:
                    renamed[sent] = self.next_record_name(scope) if auto_number else sent
                rid = renamed[sent]
                rec = self.records.get(rid)
                if rec is None:
                    dag = scope.dag if scope.dag is not None else row.get(_DAG_KEY, "") or ""
                    rec = self.records[rid] = StoredRecord(rid, dag)
                    created.add(rid)
                    self._sorted = None
                elif scope.dag is None and row.get(_DAG_KEY):
                    rec.dag = row[_DAG_KEY]
                details = changed.setdefault(rid, [])
                details += self._apply_row(rec, row, overwrite)
            for rid, details in changed.items():
                rec = self.records[rid]
                if rid in created or details:
                    rec.changes.append(now)
                    kind, verb = (("record_add", "Create") if rid in created
                                  else ("record_edit", "Update"))
                    self.log.append(LogEntry(now, scope.username, f"{verb} record (API) {rid}",
                                             ", ".join(details), rid, rec.dag, kind))
            return [(rid, sent) for sent, rid in renamed.items()]

    def _apply_row(self, rec: StoredRecord, row: Mapping[str, str], overwrite: bool) -> list[str]:
        design, id_field = self.design, self.schema.id_field
        if str(row.get("redcap_repeat_instance", "")) == "new":
            event = str(row.get("redcap_event_name", "")) if design.longitudinal else ""
            form = str(row.get("redcap_repeat_instrument", ""))
            last = max((i or 1 for e, f, i in rec.rows if e == event and f == form
                        and i is not None), default=0)
            row = {**row, "redcap_repeat_instance": str(last + 1)}
        key = row_key(design, row)
        target = rec.rows.setdefault(key, {})
        details = []
        for name, value in row.items():
            if name == id_field or name in _SPECIAL or name not in self.schema.column_index:
                continue
            old = target.get(name, "")
            if (value == "" and not overwrite) or value == old:
                continue
            if value == "":
                del target[name]
            else:
                target[name] = value
            details.append(f"{name} = '{value}'")
        prefix = f"[instance = {key[2]}], " if key[2] is not None else ""
        if design.longitudinal and details:
            prefix = f"[event = {key[0]}], {prefix}" if key[0] else prefix
        return [prefix + ", ".join(details)] if details and prefix else details

    def delete(self, scope: Scope, ids: Sequence[str], *, instrument: str = "", event: str = "",
               arm: str = "", repeat_instance: int | None = None) -> int:
        """Delete whole records, a record's arm, or one form's data (on one event, one
        instance); raise KeyError listing unknown ids."""
        with self.lock:
            visible = set(self.visible_ids(scope, ids))
            missing = [i for i in dict.fromkeys(ids) if i not in visible]
            if missing:
                raise KeyError(", ".join(missing))
            now = self.clock.now()
            arm_events = ({e.unique_name for e in self.design.events if str(e.arm) == arm}
                          if arm else set())
            for rid in dict.fromkeys(ids):
                rec = self.records[rid]
                if instrument:
                    self._delete_form(rec, instrument, event, repeat_instance)
                    rec.changes.append(now)
                    self.log.append(LogEntry(now, scope.username, f"Update record (API) {rid}",
                                             f"Delete form data: {instrument}", rid, rec.dag,
                                             "record_edit"))
                    continue
                if arm_events:
                    for key in [k for k in rec.rows if k[0] in arm_events]:
                        del rec.rows[key]
                    if rec.rows:
                        rec.changes.append(now)
                        continue
                del self.records[rid]
                self.log.append(LogEntry(now, scope.username, f"Delete record (API) {rid}",
                                         f"{self.schema.id_field} = '{rid}'", rid, rec.dag,
                                         "record_delete"))
            self._sorted = None
            return len(dict.fromkeys(ids))

    def _delete_form(self, rec: StoredRecord, form: str, event: str,
                     instance: int | None) -> None:
        names = set(self.schema.form_columns([form]))
        for key in list(rec.rows):
            ev, rep_form, inst = key
            if event and ev != event:
                continue
            if rep_form == form:
                if instance is None or inst == instance:
                    del rec.rows[key]
            elif not rep_form and (instance is None or inst in (None, instance)):
                for name in names:
                    rec.rows[key].pop(name, None)

    # -- log -----------------------------------------------------------------------
    def log_rows(self, scope: Scope, *, logtype: str = "", user: str = "", record: str = "",
                 dag: str = "", begin: datetime | None = None,
                 end: datetime | None = None) -> list[dict[str, str]]:
        """Log entries newest first, filtered as REDCap's content=log filters them (§5).

        A DAG member sees only its DAG's entries: the design events, in no DAG, are not
        shown to it (REDCap scopes a DAG user's log to its records; how it treats design
        events is uncertain, so a pull never relies on a DAG token's log for them)."""
        kinds = {"": {"record_add", "record_edit", "record_delete", "manage"},
                 "record": {"record_add", "record_edit", "record_delete"},
                 "manage": {"manage"},
                 "record_add": {"record_add"}, "record_edit": {"record_edit"},
                 "record_delete": {"record_delete"}}.get(logtype, set())
        dag_name = dag
        if dag and dag.isdigit():
            dag_name = next((u for u, i in self.dag_ids.items() if str(i) == dag), dag)
        with self.lock:
            entries = list(self.log)
        out = []
        for e in reversed(entries):
            if e.logtype not in kinds or (scope.dag is not None and e.dag != scope.dag):
                continue
            if (user and e.username != user) or (record and e.record != record):
                continue
            if (dag_name and e.dag != dag_name) or (begin and e.ts < begin) or \
                    (end and e.ts > end):
                continue
            out.append(e.as_row())
        return out


def _drop_gray(values: dict[str, str], columns: Mapping[str, Column]) -> dict[str, str]:
    """An exported row shows `<form>_complete` 0 for a form never saved (REDCap's gray
    icon) as for one saved Incomplete; with no other value on the form it was never
    saved, so nothing is stored (and exportBlankForGrayFormStatus blanks it again)."""
    gray = [k for k, v in values.items() if v == "0" and columns[k].kind == "complete"]
    if not gray:
        return values
    saved = {columns[k].form for k, v in values.items()
             if columns[k].kind != "complete" and not (columns[k].kind == "checkbox"
                                                       and v == "0")}
    return {k: v for k, v in values.items() if k not in gray or columns[k].form in saved}
