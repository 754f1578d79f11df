"""Copy a scenario project with known errors injected, and say exactly where they are.

    errors = inject_errors("longitudinal", tmp_path / "project", n=12, seed=3)
    with SandboxServer.from_folder(tmp_path / "project") as server:
        ...  # pull, validate: each error should come back as a flag on its cell
    truth_csv(errors, tmp_path / "truth.csv")

Each `InjectedError(record, event, form, instance, field, kind)` names one cell of
records.csv (`event` `""` on a classic project, `instance` None off repeating rows):
the cell a correct dictionary-derived check flags. The kinds, each applied only where
the dictionary makes it an error:

- `not_a_number`: `12 mg` in an integer/number field (any number validation);
- `impossible_date`: `2023-02-30` (with ` 10:00` on a datetime) in a date field;
- `unknown_code`: a code outside the choices of a radio or dropdown;
- `out_of_range`: above the field's max (numbers: max + 100; dates with max `today`:
  2099-01-01);
- `missing_required`: a required field blanked (only fields without branching logic,
  so "required" is not a matter of what is shown);
- `no_box_ticked`: every box of a required checkbox (without branching) unticked, on a
  row with one ticked (the cell named is the field; its `<field>___<code>` columns
  change).

Only filled cells are changed, none twice, and nothing else in the folder changes.
The same source, n, kinds and seed always give the same copy and the same truth.
"""

from __future__ import annotations

import csv
import random
import shutil
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from registry.fieldtypes import checkbox_columns
from registry.sandbox.folder import read_dictionary
from tests.scenarios import SCENARIO_DIR, scenario_path

__all__ = ["KINDS", "TRUTH_COLUMNS", "InjectedError", "inject_errors", "truth_csv"]

KINDS = ("not_a_number", "impossible_date", "unknown_code", "out_of_range", "missing_required",
         "no_box_ticked")
TRUTH_COLUMNS = ("record", "event", "form", "instance", "field", "kind")
_NUMBERS = ("integer", "number")


@dataclass(frozen=True, order=True)
class InjectedError:
    record: str
    event: str
    form: str
    instance: int | None
    field: str
    kind: str


def _choices(text: str) -> set[str]:
    return {p.split(",")[0].strip() for p in text.split("|") if p.strip()}


def _bad_value(kind: str, meta: dict[str, str]) -> str | None:
    """The injected value for this kind and field, or None if it does not apply."""
    vtype = meta["text_validation_type_or_show_slider_number"] if meta["field_type"] == "text" \
        else ""
    if kind == "not_a_number":
        return "12 mg" if vtype.startswith(_NUMBERS) else None
    if kind == "impossible_date":
        if vtype.startswith("datetime"):
            return "2023-02-30 10:00" + (":00" if vtype.startswith("datetime_seconds") else "")
        return "2023-02-30" if vtype.startswith("date") else None
    if kind == "unknown_code":
        if meta["field_type"] not in ("radio", "dropdown"):
            return None
        codes = _choices(meta["select_choices_or_calculations"])
        return next(c for c in ("99", "98", "97", "x") if c not in codes)
    if kind == "out_of_range":
        high = meta["text_validation_max"].strip()
        if vtype.startswith("date") and high == "today":
            return "2099-01-01" + (" 10:00" if vtype.startswith("datetime") else "")
        if not high or not vtype.startswith(_NUMBERS):
            return None
        comma = vtype.endswith("comma_decimal")
        try:
            bound = float(high.replace(",", "."))
        except ValueError:
            return None
        digits = int(vtype[7]) if vtype[7:8].isdigit() else 0
        out = f"{bound + 100:.{digits}f}" if digits else str(int(bound) + 100)
        return out.replace(".", ",") if comma else out
    if kind == "missing_required":
        ok = meta["required_field"] == "y" and not meta["branching_logic"].strip()
        return "" if ok and meta["field_type"] not in ("checkbox", "calc", "file") else None
    if kind == "no_box_ticked":
        ok = meta["required_field"] == "y" and not meta["branching_logic"].strip()
        return "0" if ok and meta["field_type"] == "checkbox" else None
    raise ValueError(f"unknown error kind {kind!r} (known: {', '.join(KINDS)})")


def inject_errors(source: str | Path, dest: Path | str, *, n: int = 10,
                  kinds: Sequence[str] = KINDS, seed: int = 0) -> list[InjectedError]:
    """Copy scenario `source` (a name or a folder) to `dest` with `n` errors injected
    (kinds in turn, a kind with no cell left skipped); return them, sorted."""
    src = scenario_path(source) if isinstance(source, str) and \
        (SCENARIO_DIR / source).exists() else Path(source)
    dest = Path(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("README.md", "*.py",
                                                             "__pycache__"))
    meta = {m["field_name"]: m for m in read_dictionary(dest / "dictionary.csv")}
    id_field = next(iter(meta))
    with (dest / "records.csv").open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    rng = random.Random(seed)
    boxes = {name: [c for c in checkbox_columns(m) if c in header] for name, m in meta.items()
             if m["field_type"] == "checkbox"}
    cells = [(i, name) for i, row in enumerate(rows) for name in header
             if name in meta and name != id_field and row[name] != ""]
    cells += [(i, name) for i, row in enumerate(rows) for name, cols in boxes.items()
              if any(row[c] == "1" for c in cols)]
    rng.shuffle(cells)
    used: set[tuple[int, str]] = set()
    errors: list[InjectedError] = []
    live = list(kinds)
    while len(errors) < n and live:
        for kind in list(live):
            if len(errors) >= n:
                break
            pick = next(((i, name) for i, name in cells if (i, name) not in used
                         and _bad_value(kind, meta[name]) is not None), None)
            if pick is None:
                live.remove(kind)
                continue
            i, name = pick
            used.add(pick)
            row = rows[i]
            for column in boxes.get(name) or [name]:
                row[column] = str(_bad_value(kind, meta[name]))
            instance = row.get("redcap_repeat_instance", "")
            errors.append(InjectedError(row[id_field], row.get("redcap_event_name", ""),
                                        meta[name]["form_name"],
                                        int(instance) if instance else None, name, kind))
    with (dest / "records.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return sorted(errors)


def truth_csv(errors: Sequence[InjectedError], path: Path | str) -> Path:
    """Write the ground truth as CSV (`record,event,form,instance,field,kind`)."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        for error in errors:
            writer.writerow("" if v is None else v for v in astuple(error))
    return path
