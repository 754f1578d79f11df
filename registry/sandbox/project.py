"""In-memory state of one sandbox REDCap project, and the operations the API runs on it.

Records are indexed by id, each as a base row (non-repeating forms) plus repeat
instances keyed by (form, instance), with the times its data changed; a log of
record creations, updates and deletions; the project's data access groups (DAGs);
and API tokens scoped to the whole project or to one DAG. Every method takes the
caller's `Scope`, so a DAG token sees only its own records (REDCAP_API.md §4).
All access goes through one lock: the HTTP server is threaded.
"""

from __future__ import annotations

import bisect
import re
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from registry.sandbox.clock import Clock, SystemClock
from registry.sandbox.schema import Column, Schema, labels_for

__all__ = ["LogEntry", "Project", "Scope", "StoredRecord", "Tokens", "natural_key"]

_DIGITS = re.compile(r"(\d+)")
_INTEGER = re.compile(r"^\d+$")
_REPEAT_KEYS = ("redcap_repeat_instrument", "redcap_repeat_instance")
_DAG_KEY = "redcap_data_access_group"


def natural_key(record_id: str) -> tuple[tuple[int, int | str], ...]:
    """Numeric-aware sort key: "2" < "10" < "10-1" < "a" (REDCap sorts record names so)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in _DIGITS.split(record_id) if p)


@dataclass(frozen=True)
class Scope:
    """Who is calling: a user name and, for a DAG member, the DAG's unique name."""

    username: str
    dag: str | None = None


@dataclass(frozen=True)
class Tokens:
    """The server's API tokens: one project-wide, one per DAG (by unique group name)."""

    project: str
    by_dag: Mapping[str, str]

    def __getitem__(self, dag: str) -> str:
        return self.by_dag[dag]

    def env(self, prefix: str = "REGISTRY_TOKEN_") -> dict[str, str]:
        """`{"REGISTRY_TOKEN_PROJECT": ..., "REGISTRY_TOKEN_PARIS": ...}` for a token file."""
        out = {f"{prefix}PROJECT": self.project}
        out.update({f"{prefix}{dag.upper()}": tok for dag, tok in self.by_dag.items()})
        return out


@dataclass
class StoredRecord:
    """One record: non-empty values of its base row and of each repeat instance."""

    record_id: str
    dag: str
    base: dict[str, str] = field(default_factory=dict)
    repeats: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    changes: list[datetime] = field(default_factory=list)


@dataclass(frozen=True)
class LogEntry:
    ts: datetime
    username: str
    action: str
    details: str
    record: str
    dag: str
    logtype: str  # record_add | record_edit | record_delete

    def as_row(self) -> dict[str, str]:
        return {"timestamp": self.ts.strftime("%Y-%m-%d %H:%M"), "username": self.username,
                "action": self.action, "details": self.details, "record": self.record}


class Project:
    """A classic REDCap project with repeating forms and DAGs, held in memory."""

    def __init__(self, metadata: Sequence[Mapping[str, str]], dags: Sequence[Mapping[str, Any]],
                 rows: Iterable[Mapping[str, Any]] = (), *, repeating: Sequence[str] = (),
                 project_info: Mapping[str, Any] | None = None, clock: Clock | None = None,
                 project_id: int = 17) -> None:
        self.clock: Clock = clock or SystemClock()
        self.created = self.clock.now()
        self.schema = Schema([dict(r) for r in metadata], tuple(repeating))
        self.dags = [dict(d) for d in dags]
        self.dag_ids = {d["unique_group_name"]: int(d["data_access_group_id"]) for d in self.dags}
        self.dag_labels = {d["unique_group_name"]: d["data_access_group_name"] for d in self.dags}
        self.project_id = project_id
        self.project_info = dict(project_info) if project_info else self._default_info()
        self.lock = threading.RLock()
        self.records: dict[str, StoredRecord] = {}
        self.log: list[LogEntry] = []
        self._sorted: list[str] | None = None
        self.tokens = Tokens(project=_new_token(),
                             by_dag={dag: _new_token() for dag in self.dag_ids})
        self._scopes = {self.tokens.project: Scope("sandbox_admin")}
        self._scopes.update({tok: Scope(f"sandbox_{dag}", dag)
                             for dag, tok in self.tokens.by_dag.items()})
        self._load(rows)

    @classmethod
    def from_registry(cls, registry: Any, *, clock: Clock | None = None) -> Project:
        """Build from a `SyntheticRegistry` (metadata, dags, records, repeating, project_info)."""
        repeating = getattr(registry, "repeating", None) or []
        forms = [r["form_name"] if isinstance(r, Mapping) else str(r) for r in repeating]
        return cls(registry.metadata, registry.dags, registry.records, repeating=forms,
                   project_info=getattr(registry, "project_info", None), clock=clock)

    # -- tokens --------------------------------------------------------------------
    def scope_for(self, token: str) -> Scope | None:
        return self._scopes.get(token)

    # -- loading -------------------------------------------------------------------
    def _load(self, rows: Iterable[Mapping[str, Any]]) -> None:
        id_field, now = self.schema.id_field, self.created
        for row in rows:
            rid = str(row[id_field])
            rec = self.records.get(rid)
            if rec is None:
                rec = self.records[rid] = StoredRecord(rid, str(row.get(_DAG_KEY, "") or ""),
                                                       changes=[now])
                self.log.append(LogEntry(now, "sandbox_generator", f"Create record {rid}",
                                         "", rid, rec.dag, "record_add"))
            form = str(row.get("redcap_repeat_instrument", "") or "")
            values = {k: str(v) for k, v in row.items()
                      if v not in ("", None) and k in self.schema.column_index and k != id_field}
            if form:
                rec.repeats[(form, int(row["redcap_repeat_instance"]))] = values
            else:
                rec.base.update(values)
        self._sorted = None

    def _default_info(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id, "project_title": "Anti-MDA5 DM registry (sandbox)",
            "creation_time": self.created.strftime("%Y-%m-%d %H:%M:%S"),
            "production_time": self.created.strftime("%Y-%m-%d %H:%M:%S"), "in_production": 1,
            "project_language": "English", "purpose": 2, "purpose_other": "",
            "project_notes": "Synthetic registry served by `registry sandbox`.",
            "custom_record_label": "", "secondary_unique_field": "", "is_longitudinal": 0,
            "has_repeating_instruments_or_events": 1 if self.schema.repeating else 0,
            "surveys_enabled": 0, "scheduling_enabled": 0, "record_autonumbering_enabled": 1,
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
                    blank_gray: bool = False) -> list[dict[str, Any]]:
        """Flat rows for these records and columns, as REDCap exports them (§2): the id,
        repeat columns, DAG column, then the columns in dictionary order; a base row per
        record then one row per repeat instance of a requested repeating form."""
        schema = self.schema
        id_field = schema.id_field
        with_id = any(c.name == id_field for c in columns)
        rest = [c for c in columns if c.name != id_field]
        repeat_cols = with_id and bool(schema.repeating)
        base_cols = [c for c in rest if not schema.is_repeating(c.form)]
        rep_forms = {c.form for c in rest if schema.is_repeating(c.form)}
        form_order = {f: i for i, f in enumerate(schema.forms)}
        gray = "" if blank_gray else "0"
        blanks = {c.name: "" for c in rest}
        # per row kind ("" = base row, else the repeating form): the columns it fills
        plans: dict[str, list[tuple[Column, str]]] = {}
        for form in ["", *rep_forms]:
            plans[form] = [
                (c, gray if c.kind == "complete" else "0" if c.kind == "checkbox" else "")
                for c in rest
                if ((c.form == form) if form else not schema.is_repeating(c.form))]

        def make(rec: StoredRecord, form: str, instance: int | None,
                 values: Mapping[str, str]) -> dict[str, Any]:
            row: dict[str, Any] = {}
            if with_id:
                row[id_field] = rec.record_id
            if repeat_cols:
                row["redcap_repeat_instrument"] = (
                    (schema.form_label(form) if label else form) if form else "")
                row["redcap_repeat_instance"] = instance if instance is not None else ""
            if dag_column:
                row[_DAG_KEY] = (self.dag_labels.get(rec.dag, rec.dag) if label else rec.dag)
            row.update(blanks)
            if label:
                for col, default in plans[form]:
                    row[col.name] = labels_for(schema, col, values.get(col.name) or default,
                                               checkbox_labels)
            else:
                for col, default in plans[form]:
                    row[col.name] = values.get(col.name) or default
            return row

        out: list[dict[str, Any]] = []
        with self.lock:
            for rid in ids:
                rec = self.records.get(rid)
                if rec is None:
                    continue
                if with_id or base_cols:
                    out.append(make(rec, "", None, rec.base))
                if rep_forms:
                    keys = sorted((k for k in rec.repeats if k[0] in rep_forms),
                                  key=lambda k: (form_order[k[0]], k[1]))
                    out.extend(make(rec, form, inst, rec.repeats[(form, inst)])
                               for form, inst in keys)
        return out

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
        schema = self.schema
        form = row.get("redcap_repeat_instrument", "") or ""
        if form:
            raw = str(row.get("redcap_repeat_instance", "") or "1")
            if raw == "new":
                raw = str(1 + max((i for f, i in rec.repeats if f == form), default=0))
            instance = int(raw)
            target = rec.repeats.setdefault((form, instance), {})
            prefix = f"[instance = {instance}], "
        else:
            target, prefix = rec.base, ""
        details = []
        for key, value in row.items():
            col = schema.column_index.get(key)
            if col is None or key == schema.id_field:
                continue
            if (col.form != form) if form else schema.is_repeating(col.form):
                continue  # a value for another form's row: REDCap drops it too
            old = target.get(key, "")
            if value == "" and not overwrite:
                continue
            if value == old:
                continue
            if value == "":
                del target[key]
            else:
                target[key] = value
            details.append(f"{key} = '{value}'")
        return [prefix + ", ".join(details)] if details and prefix else details

    def delete(self, scope: Scope, ids: Sequence[str], *, instrument: str = "",
               repeat_instance: int | None = None) -> int:
        """Delete whole records (or one form's data); raise KeyError listing unknown ids."""
        with self.lock:
            visible = set(self.visible_ids(scope, ids))
            missing = [i for i in dict.fromkeys(ids) if i not in visible]
            if missing:
                raise KeyError(", ".join(missing))
            now = self.clock.now()
            for rid in dict.fromkeys(ids):
                rec = self.records[rid]
                if instrument:
                    self._delete_form(rec, instrument, repeat_instance)
                    rec.changes.append(now)
                    self.log.append(LogEntry(now, scope.username, f"Update record (API) {rid}",
                                             f"Delete form data: {instrument}", rid, rec.dag,
                                             "record_edit"))
                    continue
                del self.records[rid]
                self.log.append(LogEntry(now, scope.username, f"Delete record (API) {rid}",
                                         f"{self.schema.id_field} = '{rid}'", rid, rec.dag,
                                         "record_delete"))
            self._sorted = None
            return len(dict.fromkeys(ids))

    def _delete_form(self, rec: StoredRecord, form: str, instance: int | None) -> None:
        if self.schema.is_repeating(form):
            for key in [k for k in rec.repeats if k[0] == form]:
                if instance is None or key[1] == instance:
                    del rec.repeats[key]
        else:
            for name in self.schema.form_columns([form]):
                rec.base.pop(name, None)

    # -- log -----------------------------------------------------------------------
    def log_rows(self, scope: Scope, *, logtype: str = "", user: str = "", record: str = "",
                 dag: str = "", begin: datetime | None = None,
                 end: datetime | None = None) -> list[dict[str, str]]:
        """Log entries newest first, filtered as REDCap's content=log filters them (§5)."""
        kinds = {"": {"record_add", "record_edit", "record_delete"},
                 "record": {"record_add", "record_edit", "record_delete"},
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


def _new_token() -> str:
    return secrets.token_hex(16).upper()
