"""Checks that a sandbox serves a scenario folder faithfully, through the real PyCap client.

The expectations are read from the folder's own files with the csv module, and put in
REDCap's export order here (record case-insensitive natural order, then event in
events.csv order, then the base row, then repeating forms in dictionary order, each by
instance), independently of the sandbox's code.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import redcap

__all__ = ["export_order", "file_rows", "json_rows", "natural", "read_csv"]

_DIGITS = re.compile(r"(\d+)")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def natural(record: str) -> tuple[tuple[int, Any], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower())
                 for p in _DIGITS.split(record) if p)


def export_order(folder: Path, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    id_field = read_csv(folder / "dictionary.csv")[0]
    id_name = id_field.get("field_name") or id_field["Variable / Field Name"]
    events = [e["unique_event_name"] for e in read_csv(folder / "events.csv")] \
        if (folder / "events.csv").exists() else [""]
    forms = list(dict.fromkeys((m.get("form_name") or m["Form Name"])
                               for m in read_csv(folder / "dictionary.csv")))

    def key(row: dict[str, str]) -> tuple[Any, ...]:
        form = row.get("redcap_repeat_instrument", "")
        instance = row.get("redcap_repeat_instance", "")
        return (natural(row[id_name]), events.index(row.get("redcap_event_name", "")),
                forms.index(form) + 1 if form else 0, int(instance) if instance else 0)

    return sorted(rows, key=key)


def file_rows(folder: Path) -> list[dict[str, str]]:
    """records.csv in export order."""
    return export_order(folder, read_csv(folder / "records.csv"))


def json_rows(project: redcap.Project, **kwargs: Any) -> list[dict[str, str]]:
    """PyCap's JSON export, `redcap_repeat_instance` back to text as CSV has it."""
    rows = project.export_records(**kwargs)
    return [{k: (str(v) if k == "redcap_repeat_instance" else v) for k, v in r.items()}
            for r in rows]


def metadata_rows(folder: Path) -> list[dict[str, str]]:
    """The folder's dictionary with the API's column names (as metadata export gives it)."""
    from registry.sandbox.folder import read_dictionary

    return read_dictionary(folder / "dictionary.csv")


def project_json(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "project.json").read_text(encoding="utf-8"))
