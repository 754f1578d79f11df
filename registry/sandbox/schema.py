"""What a REDCap data dictionary implies for the API: export columns, choices, forms.

REDCap never exports a dictionary row as it stands: a checkbox becomes one
`field___code` column per choice (the code lower-cased, `-` and `.` made `_`, other
characters dropped: `Project::getExtendedCheckboxCodeFormatted`), descriptive fields
vanish, and each instrument gains a `<form>_complete` column after its last field
(REDCAP_API.md §2). The sandbox derives all of that once per project from the
metadata rows and the project's `Design` (events, mapping, repetition), so export,
import validation and `exportFieldNames` agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from registry.fieldtypes import checkbox_code
from registry.fieldtypes import choices as field_choices
from registry.sandbox.design import Design

__all__ = ["COMPLETE_CHOICES", "Column", "Schema", "empty_row", "labels_for"]

#: `<form>_complete` codes and the labels REDCap shows for them.
COMPLETE_CHOICES = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}
_NO_DATA_TYPES = {"descriptive"}
_NO_EXPORT_NAME_TYPES = {"descriptive", "file"}


@dataclass(frozen=True)
class Column:
    """One export column: the field it belongs to, its form, and (checkboxes) its code."""

    name: str
    field: str
    form: str
    kind: str  # field_type, or "complete" for <form>_complete
    code: str = ""


@dataclass
class Schema:
    """The export view of a data dictionary and the project's design.

    `repeating` is the project's `Design`, or (classic projects) the names of its
    repeating forms; `form_labels` the instrument labels (`content=instrument`), where
    known, else derived from the form names."""

    metadata: list[dict[str, str]]
    repeating: Design | Sequence[str] = ()
    form_labels: Mapping[str, str] = field(default_factory=dict)
    design: Design = field(init=False)
    fields: dict[str, dict[str, str]] = field(init=False)
    forms: list[str] = field(init=False)
    columns: list[Column] = field(init=False)
    column_index: dict[str, Column] = field(init=False)
    #: field name -> its export columns (a checkbox's, one per choice), in order
    field_columns: dict[str, list[Column]] = field(init=False)
    choices: dict[str, dict[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.design = (self.repeating if isinstance(self.repeating, Design)
                       else Design.classic(self.repeating))
        self.fields = {row["field_name"]: row for row in self.metadata}
        self.forms = list(dict.fromkeys(row["form_name"] for row in self.metadata))
        self.choices = {}
        columns: list[Column] = []
        for form in self.forms:
            for row in self.metadata:
                if row["form_name"] != form:
                    continue
                name, ftype = row["field_name"], row["field_type"]
                if ftype in _NO_DATA_TYPES:
                    continue
                if ftype in ("radio", "dropdown", "checkbox", "yesno", "truefalse"):
                    self.choices[name] = field_choices(row)
                if ftype == "checkbox":
                    columns += [Column(f"{name}___{checkbox_code(code)}", name, form, ftype,
                                       code) for code in self.choices[name]]
                else:
                    columns.append(Column(name, name, form, ftype))
            columns.append(Column(f"{form}_complete", f"{form}_complete", form, "complete"))
            self.choices[f"{form}_complete"] = dict(COMPLETE_CHOICES)
        self.columns = columns
        self.column_index = {c.name: c for c in columns}
        self.field_columns = {}
        for c in columns:
            self.field_columns.setdefault(c.field, []).append(c)

    @property
    def id_field(self) -> str:
        """The record id field: the first field of the dictionary, as in REDCap."""
        return self.metadata[0]["field_name"]

    def form_of(self, column: str) -> str:
        return self.column_index[column].form

    @property
    def has_repeating(self) -> bool:
        """Whether the project repeats any form or event (export gains the repeat columns)."""
        return self.design.has_repeating

    def is_repeating(self, form: str, event: str = "") -> bool:
        return self.design.is_repeating_form(form, event)

    def form_label(self, form: str) -> str:
        """The instrument label: from `form_labels`, else derived from the name."""
        return self.form_labels.get(form) or form.replace("_", " ").capitalize()

    def columns_for(self, names: Iterable[str]) -> list[Column]:
        """Export columns for requested field names (base names, `f___code`, `_complete`),
        in dictionary order whatever the order asked (REDCAP_API.md §2)."""
        wanted: set[str] = set()
        for name in names:
            if name in self.column_index:
                wanted.add(name)
            elif name in self.fields:
                wanted.update(c.name for c in self.field_columns.get(name, ()))
        return [c for c in self.columns if c.name in wanted]

    def unknown_fields(self, names: Iterable[str]) -> list[str]:
        """Requested names that are neither fields, checkbox columns nor `_complete`."""
        return [n for n in names if n not in self.column_index and n not in self.fields]

    def form_columns(self, forms: Iterable[str]) -> list[str]:
        wanted = set(forms)
        return [c.name for c in self.columns if c.form in wanted]

    def export_field_names(self, only: str | None = None) -> list[dict[str, str]]:
        """`content=exportFieldNames` rows: one per checkbox choice, `_complete` included."""
        rows = []
        for col in self.columns:
            ftype = self.fields[col.field]["field_type"] if col.field in self.fields else ""
            if ftype in _NO_EXPORT_NAME_TYPES:
                continue
            if only is not None and col.field != only:
                continue
            rows.append({"original_field_name": col.field, "choice_value": col.code,
                         "export_field_name": col.name})
        return rows

    def filtered_metadata(self, fields: list[str], forms: list[str]) -> list[dict[str, str]]:
        """`content=metadata` with optional `fields[]`/`forms[]` (a union, dictionary order)."""
        if not fields and not forms:
            return [dict(r) for r in self.metadata]
        keep_f, keep_forms = set(fields), set(forms)
        return [dict(r) for r in self.metadata
                if r["field_name"] in keep_f or r["form_name"] in keep_forms]


def empty_row(columns: Iterable[Column]) -> dict[str, str]:
    return {c.name: "" for c in columns}


def labels_for(schema: Schema, column: Column, value: str, checkbox_labels: bool) -> str:
    """The value REDCap exports with rawOrLabel=label for one cell."""
    if value == "":
        return ""
    if column.kind == "checkbox":
        if checkbox_labels:
            return schema.choices[column.field].get(column.code, "") if value == "1" else ""
        return "Checked" if value == "1" else "Unchecked"
    choices: Mapping[str, str] | None = schema.choices.get(column.field)
    if choices is None:
        return value
    return choices.get(value, value)
