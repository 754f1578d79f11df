"""Branching logic and calculations evaluated on the tidy frames, across forms and events.

`RecordEnv(rows, form, ...)` is the environment `registry.quality.logic` evaluates an
expression in, for the rows of one form: a reference to a field of the same form reads
the row itself; a field of another form reads that form's row of the same record, in the
same event (`[event][field]` or `[previous-event-name][field]` another event), and for a
repeating form the same instance inside a repeating event, else instance 1 (or the
instance the reference names: `[field][2]`, `[field][last-instance]`). Typed values are
turned back into REDCap's text (a choice label into its code, a yes/no into 1/0, a date
into Y-M-D) so the logic reads them as REDCap does.

`shown(logic, env)` gives the per-row "branching logic shows this field" column (True,
False, NA where it cannot be known, e.g. the controlling answer is empty); `describe`
says the logic in a coordinator's words (`registry.quality.logic.words`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from registry.fieldtypes import checkbox_code, choices, validation_of
from registry.quality.columns import FrameColumns
from registry.quality.logic import (
    LogicError,
    Node,
    Ref,
    Val,
    evaluate,
    from_dates,
    from_number,
    from_text,
    numbers,
    parse,
    truth,
)
from registry.quality.logic.words import EVENT_SMART as _EVENT_SMART
from registry.quality.logic.words import FIELD_REF as _FIELD
from registry.quality.logic.words import describe
from registry.quality.rowcodes import text_codes

__all__ = ["BranchingError", "RecordEnv", "describe", "floats", "parse", "shown"]

#: Kept for callers that catch it by this name: unreadable or unsupported logic.
BranchingError = LogicError

_INSTANCE_SMART = ("first-instance", "last-instance", "previous-instance", "next-instance",
                   "current-instance")
_VALUE_SMART = ("event-name", "arm-number", "record-name", "current-instance")


def _strings(series: pd.Series | None, n: int) -> np.ndarray:
    if series is None:
        return np.full(n, "", dtype=object)
    if isinstance(series.dtype, pd.StringDtype) or series.dtype == object:
        out = series.to_numpy(dtype=object, na_value="")
        if series.dtype == object and len(out) and not all(isinstance(v, str) for v in out):
            out = np.array([str(v) for v in out], dtype=object)
        return out
    return series.astype(object).where(series.notna(), "").astype(str).to_numpy(dtype=object)


def floats(series: pd.Series) -> np.ndarray:
    """A column of numbers or booleans as float64, NaN missing: what
    `astype("Float64").to_numpy("float64", na_value=np.nan)` gives, without the masked
    copy (for a float64 column the Float64 cast also checks every value: 10 ms at 10^5)."""
    array = series.array
    if isinstance(array, pd.arrays.IntegerArray | pd.arrays.FloatingArray
                  | pd.arrays.BooleanArray) or (isinstance(series.dtype, np.dtype)
                                                and series.dtype.kind in "biuf"):
        return series.to_numpy("float64", na_value=np.nan)
    return series.astype("Float64").to_numpy("float64", na_value=np.nan)


class RecordEnv:
    """Where a reference points, for the rows of one form (see the module docstring).

    `frames` maps every form name to its tidy frame; `dictionary` field name -> row;
    `events` the unique event names in project order with their arm (empty on a classic
    project); `repeating(form, event)` whether that form repeats there (a repeating event
    counts: every form of it repeats with it); `repeating_events` the repeating events.
    """

    def __init__(self, rows: pd.DataFrame, form: str, frames: Mapping[str, pd.DataFrame],
                 dictionary: Mapping[str, Mapping[str, str]], *, today: pd.Timestamp,
                 now: pd.Timestamp | None = None, events: Sequence[tuple[str, Any]] = (),
                 repeating: Callable[[str, str], bool] | None = None,
                 repeating_events: frozenset[str] = frozenset()) -> None:
        self.rows = rows
        self.columns = FrameColumns(rows)  # each taken out when first read
        self.form = form
        self.frames = frames
        self.dictionary = dictionary
        self.n = len(rows)
        self.today = pd.Timestamp(today)
        self.now = pd.Timestamp(now) if now is not None else self.today + pd.Timedelta(
            hours=23, minutes=59, seconds=59)
        self.events = [e for e, _ in events]
        self.arm_of = {e: a for e, a in events}
        self.repeating = repeating or (lambda f, e: False)
        self.repeating_events = repeating_events
        self._vals: dict[tuple[str, str], Val] = {}
        self._series: dict[str, FrameColumns] = {}
        self._index: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._positions: dict[tuple[str, str, str], np.ndarray] = {}

    # the rows' keys, read when a reference needs them (most logic reads its own row)
    @cached_property
    def patient(self) -> np.ndarray:
        return _strings(self.columns.get("patient_id"), self.n)

    @cached_property
    def event(self) -> np.ndarray:
        return _strings(self.columns.get("event"), self.n)

    @cached_property
    def instance(self) -> np.ndarray:
        return self._instances(self.rows)

    @staticmethod
    def _instances(frame: pd.DataFrame) -> np.ndarray:
        if "instance" not in frame.columns:
            return np.full(len(frame), -1, dtype=np.int64)
        instance = frame["instance"]
        if isinstance(instance.dtype, pd.Int64Dtype):  # as the Float64 cast and fillna do
            return instance.to_numpy("int64", na_value=-1)
        return instance.astype("Float64").fillna(-1).to_numpy("int64")

    # -- reading a reference ----------------------------------------------------------

    def ref(self, ref: Ref) -> Val:
        parts = list(ref.parts)
        if len(parts) == 1 and parts[0].lower() in _VALUE_SMART:
            return self._smart_value(parts[0].lower())
        event_spec = ""
        if len(parts) > 1 and (parts[0] in self.arm_of or parts[0].lower() in _EVENT_SMART):
            event_spec = parts.pop(0)
        match = _FIELD.match(parts[0]) if parts else None
        if match is None:
            raise LogicError(f"[{']['.join(ref.parts)}] is not a field this reader knows "
                             "(smart variables other than event, arm, record and instance "
                             "ones are not supported)")
        name, code = match.group(1), match.group(2)
        instance_spec = parts[1] if len(parts) > 1 else ""
        if len(parts) > 2:
            raise LogicError(f"[{']['.join(ref.parts)}] has more brackets than "
                             "[event][field][instance]")
        meta = self.dictionary.get(name)
        if meta is None:
            raise LogicError(f"the logic names [{name}], which is not a field of the project")
        if meta.get("field_type") == "checkbox":
            if not code:
                raise LogicError(f"checkbox [{name}] needs a choice: [{name}(code)]")
            column = f"{name}___{checkbox_code(code)}"
        elif code:
            raise LogicError(f"[{name}({code})]: only checkbox fields take a choice code")
        else:
            column = name
        form = meta["form_name"]
        if form == self.form and event_spec in ("", "event-name") and instance_spec in (
                "", "current-instance"):
            return self._column_val(self.rows, form, column, meta, own=True)
        positions = self._lookup(form, event_spec, instance_spec)
        target = self.frames.get(form)
        if target is None:
            return from_text(np.full(self.n, "", dtype=object))
        val = self._column_val(target, form, column, meta, own=False)
        return _take(val, positions)

    def _smart_value(self, name: str) -> Val:
        if name == "event-name":
            return from_text(self.event)
        if name == "record-name":
            return from_text(_strings(self.columns.get("record_id"), self.n))
        if name == "arm-number":
            arms = [str(self.arm_of.get(e, "") or "") for e in self.event]
            return from_text(np.array(arms, dtype=object))
        return from_text(np.array([str(i) if i >= 0 else "" for i in self.instance],
                                  dtype=object))

    def _column_val(self, frame: pd.DataFrame, form: str, column: str,
                    meta: Mapping[str, str], own: bool) -> Val:
        key = ("" if own else form, column)
        if key not in self._vals:
            if own:
                series = self.columns.get(column)
            else:
                if form not in self._series:
                    self._series[form] = FrameColumns(frame)
                series = self._series[form].get(column)
            self._vals[key] = value_of(series, meta, len(frame))
        return self._vals[key]

    # -- finding the row a reference points at -----------------------------------------

    def _target_keys(self, form: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(patient, event, instance) of every row of a form's frame."""
        if form not in self._index:
            frame = self.frames.get(form, pd.DataFrame())
            n = len(frame)
            self._index[form] = (_strings(frame.get("patient_id"), n),
                                 _strings(frame.get("event"), n), self._instances(frame))
        return self._index[form]

    def _target_events(self, spec: str) -> np.ndarray:
        if spec in ("", "event-name"):
            return self.event
        if spec in self.arm_of:
            return np.full(self.n, spec, dtype=object)
        out = np.full(self.n, "", dtype=object)
        for i, event in enumerate(self.event):
            arm = self.arm_of.get(event)
            same_arm = [e for e in self.events if self.arm_of.get(e) == arm]
            if not same_arm:
                continue
            if spec == "first-event-name":
                out[i] = same_arm[0]
            elif spec == "last-event-name":
                out[i] = same_arm[-1]
            elif event in same_arm:
                k = same_arm.index(event) + (1 if spec == "next-event-name" else -1)
                out[i] = same_arm[k] if 0 <= k < len(same_arm) else ""
        return out

    def _lookup(self, form: str, event_spec: str, instance_spec: str) -> np.ndarray:
        key = (form, event_spec, instance_spec)
        if key in self._positions:
            return self._positions[key]
        events = self._target_events(event_spec)
        patients, target_events, target_instances = self._target_keys(form)
        instances = np.full(self.n, -1, dtype=np.int64)
        # events are text, never missing: ask about each distinct event once, not per row
        codes, distinct = pd.factorize(events)
        repeats = np.array([self.repeating(form, e) for e in distinct], dtype=bool)[codes] \
            if len(events) else np.zeros(0, bool)
        if repeats.any():
            wanted = self._instance_numbers(form, events, instance_spec,
                                            (patients, target_events, target_instances))
            instances = np.where(repeats, wanted, -1)
        positions = _find(patients, target_events, target_instances, self.patient, events,
                          instances)
        self._positions[key] = positions
        return positions

    def _instance_numbers(self, form: str, events: np.ndarray, spec: str,
                          target: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        if spec.isdigit():
            return np.full(self.n, int(spec), dtype=np.int64)
        if spec in ("first-instance", "last-instance"):
            rows = pd.DataFrame({"p": target[0], "e": target[1], "i": target[2]})
            agg = rows.groupby(["p", "e"])["i"].agg(
                "min" if spec == "first-instance" else "max")
            got = agg.reindex(pd.MultiIndex.from_arrays([self.patient, events]))
            return got.fillna(-1).to_numpy("int64")
        if spec in ("current-instance", "previous-instance", "next-instance"):
            shift = {"current-instance": 0, "previous-instance": -1, "next-instance": 1}[spec]
            return np.where(self.instance >= 0, self.instance + shift, -1)
        if spec:
            raise LogicError(f"[{spec}] is not an instance (a number or first-, last-, "
                             "previous-, next-, current-instance)")
        same_event = np.isin(events, list(self.repeating_events)) & (events == self.event)
        return np.where(same_event & (self.instance >= 0), self.instance, 1)


def _find(patients: np.ndarray, events: np.ndarray, instances: np.ndarray,
          want_patients: np.ndarray, want_events: np.ndarray,
          want_instances: np.ndarray) -> np.ndarray:
    """Position of each wanted (patient, event, instance) among the target rows, -1 if
    none (the first row where a key repeats)."""
    p_codes, _ = pd.factorize(np.concatenate([patients, want_patients]))
    e_codes, _ = pd.factorize(np.concatenate([events, want_events]))
    n_e = int(e_codes.max()) + 2 if len(e_codes) else 1
    all_inst = np.concatenate([instances, want_instances]) + 1
    n_i = int(all_inst.max()) + 2 if len(all_inst) else 1
    keys = (p_codes.astype(np.int64) * n_e + e_codes) * n_i + all_inst
    target, wanted = keys[:len(patients)], keys[len(patients):]
    first = ~pd.Series(target).duplicated().to_numpy()
    index = pd.Index(target[first])
    found = index.get_indexer(wanted)
    mapped = np.flatnonzero(first)
    return np.where(found >= 0, mapped[np.maximum(found, 0)], -1)


def _take(val: Val, positions: np.ndarray) -> Val:
    """The values at `positions` (-1: no such row, blank)."""
    hit = positions >= 0
    idx = np.maximum(positions, 0)

    def pick(arr: np.ndarray | None, fill: Any) -> np.ndarray | None:
        if arr is None:
            return None
        if len(arr) == 0:
            return np.full(len(positions), fill, dtype=arr.dtype)
        return np.where(hit, arr[idx], fill)

    when = pick(val.when, np.datetime64("NaT"))
    return Val(pick(val.text_, ""), pick(val.num, np.nan),  # type: ignore[arg-type]
               np.ones(len(positions), bool), when, val.unit)


def value_of(series: pd.Series | None, meta: Mapping[str, str], n: int) -> Val:
    """A tidy column as REDCap's values: codes for choices, 1/0, Y-M-D dates, numbers."""
    if series is None:
        return from_text(np.full(n, "", dtype=object))
    ftype = meta.get("field_type", "")
    if pd.api.types.is_datetime64_any_dtype(series):
        kind = (validation_of(meta).kind if validation_of(meta) else "date")  # type: ignore[union-attr]
        unit = {"datetime": "m", "datetime_seconds": "s"}.get(kind, "D")
        return from_dates(series.to_numpy("datetime64[ns]"), unit)
    if isinstance(series.dtype, pd.BooleanDtype) or series.dtype == bool:
        return from_number(floats(series))
    if pd.api.types.is_numeric_dtype(series):
        return from_number(floats(series))
    if ftype in ("radio", "dropdown"):
        return _choice_codes(series, meta, n)
    return from_text(_strings(series, n))


def _choice_codes(series: pd.Series, meta: Mapping[str, str], n: int) -> Val:
    """A choice column's labels as their codes (text that is no label kept, "" blank).

    Each distinct label is looked up (and read as a number) once: the column is
    factorized (a text column as the ndarray behind it, missing values coded -1), not
    mapped row by row.
    """
    codes = {label: code for code, label in choices(meta).items()}
    factorized = text_codes(series)
    if factorized is not None:
        rows, labels = factorized
        # the code of each distinct label, and "" last: a missing value's -1 picks it
        texts = np.array([*(codes.get(label, label) for label in labels), ""], dtype=object)
        return Val(texts[rows], numbers(texts)[rows], np.ones(n, dtype=bool))
    text = _strings(series, n)
    mapped = pd.Series(text, dtype=object).map(codes)
    return from_text(mapped.where(mapped.notna(), pd.Series(text, dtype=object)).to_numpy(
        object))


def shown(logic: Node, env: RecordEnv) -> pd.Series:
    """Per row: True where the logic shows the field, False where it hides it, NA where
    it cannot be known (an answer it depends on is empty)."""
    value = evaluate(logic, env)
    true, known = truth(value)
    out = pd.array(true, dtype="boolean")
    out[~known] = pd.NA
    return pd.Series(out, index=env.rows.index)
