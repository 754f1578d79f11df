"""What the site PDF lists, in the order a coordinator fixes it.

* `group_records`: one group per record (REDCap record), records with a blocking flag
  first, then in natural order; inside a record its blocking flags first. When one
  cell explains many of a record's flags (a death date typed before the diagnosis
  puts every later treatment, ICU stay and infection "after the end of follow-up"),
  that cell is the record's `root`: its own flag comes first, marked "fix first", the
  flags that read it follow under it, then the others.
* `by_rule`: the open flags counted per rule, the most urgent first (the page of what
  matters most for a site with many flags).

The root cell is found from the data only: each flag carries the fields its rule
reads (`Flag.involves`, from the rule and the registry profile); the root is the
field of a single cell (not on a repeating form) read by the most flags of the record,
when that is at least `ROOT_MIN` flags and more than half of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from registry.reports.models import Flag, natural_key

__all__ = ["ROOT_MIN", "Line", "RecordGroup", "RootCell", "RuleCount", "by_rule",
           "group_records"]

#: A cell explains a record's flags when at least this many read it.
ROOT_MIN = 3


@dataclass(frozen=True)
class Line:
    """One flag as the PDF shows it."""

    flag: Flag
    where: str               # form title, with its instance and event
    days_open: int | None
    follows: bool = False    # explained by the record's root cell
    root: bool = False       # a flag on the root cell itself
    inputs: str = ""         # a calculated field: the labels of the fields it reads


@dataclass(frozen=True)
class RootCell:
    """The one cell of a record to correct first."""

    field: str
    label: str
    where: str
    value: str
    explained: int           # how many of the record's flags read it (its own included)


@dataclass(frozen=True)
class RecordGroup:
    record_id: str
    lines: tuple[Line, ...]
    root: RootCell | None = None

    @property
    def n_flags(self) -> int:
        return len(self.lines)

    @property
    def n_blocking(self) -> int:
        return sum(line.flag.is_blocking for line in self.lines)

    @property
    def n_to_type(self) -> int:
        """Flags on cells someone can type into (a calculated field follows its inputs)."""
        return sum(not line.flag.is_calculated for line in self.lines)

    @property
    def n_calculated(self) -> int:
        return self.n_flags - self.n_to_type


@dataclass(frozen=True)
class RuleCount:
    """One rule's open flags at the site."""

    rule_id: str
    severity: str
    what: str                # the field's label and form
    example: str             # one of its messages
    suggestion: str
    flags: int
    records: int
    calculated: bool = False


def form_title(form: str, instance: int | None, event: str,
               form_labels: Mapping[str, str], event_labels: Mapping[str, str]) -> str:
    name = form_labels.get(form) or form.replace("_", " ").capitalize()
    if instance is not None:
        name = f"{name} #{instance}"
    shown = event_labels.get(event) or event
    return f"{name} ({shown})" if shown else name


def _rank(order: Sequence[str], name: str) -> tuple[int, str]:
    return (order.index(name), "") if name in order else (len(order), name)


def _days(flag: Flag, today: date | None) -> int | None:
    if today is None or flag.first_seen is None:
        return None
    return max(0, (today - flag.first_seen).days)


def _root(flags: Sequence[Flag], repeating: Collection[str],
          field_forms: Mapping[str, str]) -> tuple[str, int] | None:
    if len(flags) < ROOT_MIN:
        return None
    reads: Counter[str] = Counter()
    for f in flags:
        reads.update(set(f.involves or ((f.field,) if f.field else ())))
    own = {f.field for f in flags}
    single = [n for n in reads
              if field_forms.get(n, "") not in repeating
              and not any(f.field == n and f.instance is not None for f in flags)]
    if not single:
        return None
    best = max(single, key=lambda n: (reads[n], n in own, -len(n), n))
    n = reads[best]
    return (best, n) if n >= ROOT_MIN and 2 * n > len(flags) else None


def group_records(flags: Sequence[Flag], *, form_order: Sequence[str] = (),
                  form_labels: Mapping[str, str] | None = None,
                  event_labels: Mapping[str, str] | None = None,
                  field_labels: Mapping[str, str] | None = None,
                  field_forms: Mapping[str, str] | None = None,
                  repeating: Collection[str] = (),
                  today: date | None = None) -> tuple[RecordGroup, ...]:
    """The open flags grouped by record, blocking first (see the module's docstring)."""
    form_labels, event_labels = form_labels or {}, event_labels or {}
    field_labels, field_forms = field_labels or {}, field_forms or {}
    events = list(event_labels)
    by_record: dict[str, list[Flag]] = {}
    for f in flags:
        by_record.setdefault(f.record_id, []).append(f)
    groups = []
    for record_id, items in by_record.items():
        found = _root(items, repeating, field_forms)
        root_field = found[0] if found else ""

        def order(f: Flag, root_field: str = root_field) -> tuple[object, ...]:
            place = (0 if f.field == root_field else 1 if root_field in f.involves else 2) \
                if root_field else 0
            return (place, not f.is_blocking, f.is_calculated, _rank(form_order, f.form),
                    _rank(events, f.event), f.instance or 0, f.field, f.rule_id)

        lines = []
        for f in sorted(items, key=order):
            inputs = ", ".join(field_labels.get(n, n) for n in f.computed_from if n)
            lines.append(Line(
                flag=f, where=form_title(f.form, f.instance, f.event, form_labels,
                                         event_labels),
                days_open=_days(f, today), root=bool(root_field) and f.field == root_field,
                follows=bool(root_field) and f.field != root_field
                and root_field in f.involves,
                inputs=inputs or ("the fields of its formula" if f.is_calculated else "")))
        root = None
        if found:
            own = next((f for f in items if f.field == root_field), None)
            form = field_forms.get(root_field, own.form if own else "")
            root = RootCell(field=root_field,
                            label=field_labels.get(root_field) or (own.label if own else "")
                            or root_field,
                            where=form_title(form, None, own.event if own else "",
                                             form_labels, event_labels) if form else "",
                            value=own.value if own else "", explained=found[1])
        groups.append(RecordGroup(record_id, tuple(lines), root))
    groups.sort(key=lambda g: (g.n_blocking == 0, natural_key(g.record_id)))
    return tuple(groups)


def by_rule(flags: Sequence[Flag], form_labels: Mapping[str, str] | None = None
            ) -> tuple[RuleCount, ...]:
    """Open flags counted per rule: blocking first, then the most flags."""
    form_labels = form_labels or {}
    rules: dict[str, list[Flag]] = {}
    for f in flags:
        rules.setdefault(f.rule_id, []).append(f)
    out = []
    for rule_id, items in rules.items():
        first = items[0]
        label = first.label or (first.field.replace("_", " ").capitalize() if first.field
                                else "A repeated instance")
        form = form_labels.get(first.form) or first.form.replace("_", " ").capitalize()
        out.append(RuleCount(
            rule_id=rule_id, severity=first.severity, what=f"{label} ({form})",
            example=first.message, suggestion=first.suggestion, flags=len(items),
            records=len({f.record_id for f in items}),
            calculated=all(f.is_calculated for f in items)))
    out.sort(key=lambda r: (r.severity != "blocking", -r.flags, r.rule_id))
    return tuple(out)
